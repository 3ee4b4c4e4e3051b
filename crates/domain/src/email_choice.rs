//! What a user chose for the emails about the issues they watch: which kinds of change email them
//! ([`InboxTypes`]), and whether each burst is emailed at once or gathered in a daily digest
//! ([`Delivery`]). The inbox gets every entry whatever they chose.

use serde::Serialize;

use crate::InboxType;

/// A set of [`InboxType`]s: the kinds of change a user wants emails about. Stored as the list of
/// the ones turned off, so that a type added later is on for everyone.
///
/// ```
/// use issue_tracker_domain::{InboxType, InboxTypes};
/// let some = InboxTypes::parse_list(&["comment", "mention"]).unwrap();
/// assert!(some.contains(InboxType::Mention) && !some.contains(InboxType::Closed));
/// assert_eq!(InboxTypes::from_muted(&some.muted()), some);
/// assert_eq!(InboxTypes::from_muted(""), InboxTypes::ALL);
/// assert_eq!(InboxTypes::parse_list(&["comment", "lunch"]).unwrap_err(), "\"lunch\" is not a valid choice.");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxTypes(u8);

impl InboxTypes {
    /// Every type.
    pub const ALL: InboxTypes = InboxTypes((1 << InboxType::ALL.len()) - 1);

    fn bit(kind: InboxType) -> u8 {
        let index = InboxType::ALL
            .iter()
            .position(|t| *t == kind)
            .expect("ALL lists every type");
        1 << index
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: InboxType) -> bool {
        self.0 & Self::bit(kind) != 0
    }

    /// The set of the named types; the first unknown name is the error.
    pub fn parse_list(names: &[&str]) -> Result<InboxTypes, String> {
        let mut set = 0;
        for name in names {
            let kind = InboxType::parse(name)
                .ok_or_else(|| format!("\"{name}\" is not a valid choice."))?;
            set |= Self::bit(kind);
        }
        Ok(InboxTypes(set))
    }

    /// The types in the set, in the docs' order.
    pub fn types(self) -> Vec<InboxType> {
        InboxType::ALL
            .into_iter()
            .filter(|t| self.contains(*t))
            .collect()
    }

    /// The stored form: the names of the types not in the set, comma-separated.
    pub fn muted(self) -> String {
        InboxType::ALL
            .into_iter()
            .filter(|t| !self.contains(*t))
            .map(InboxType::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The set a stored form names (unknown names are ignored).
    pub fn from_muted(muted: &str) -> InboxTypes {
        let off = muted
            .split(',')
            .filter_map(|name| InboxType::parse(name.trim()))
            .fold(0, |set, kind| set | Self::bit(kind));
        InboxTypes(Self::ALL.0 & !off)
    }
}

impl Serialize for InboxTypes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.types())
    }
}

/// When the emails about watched issues go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(rename_all = "lowercase"))]
pub enum Delivery {
    /// One email per burst per issue, `NOTIFY_DEBOUNCE` after its first change.
    Instant,
    /// One email a day, at `DIGEST_HOUR`, listing that day's unread entries.
    Daily,
}

impl Delivery {
    /// The stored word.
    pub const fn as_str(self) -> &'static str {
        match self {
            Delivery::Instant => "instant",
            Delivery::Daily => "daily",
        }
    }

    /// The mode a word names.
    ///
    /// ```
    /// use issue_tracker_domain::Delivery;
    /// assert_eq!(Delivery::parse("daily"), Some(Delivery::Daily));
    /// assert_eq!(Delivery::parse("hourly"), None);
    /// ```
    pub fn parse(word: &str) -> Option<Delivery> {
        [Delivery::Instant, Delivery::Daily]
            .into_iter()
            .find(|d| d.as_str() == word)
    }
}
