//! Changing the labels of an issue: which labels an edit puts on and takes off.

use crate::{label_key, Label};

/// A change to the labels of an issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelEdit {
    /// Put these on it (those it has stay).
    Add(Vec<String>),
    /// Make these its labels.
    Replace(Vec<String>),
    /// Take this one off.
    Remove(String),
}

/// What an edit changes: the labels put on and taken off, each sorted by name (regardless of
/// case), the order their history events are written in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelDiff {
    /// Put on the issue.
    pub added: Vec<Label>,
    /// Taken off the issue.
    pub removed: Vec<Label>,
}

impl LabelDiff {
    /// Whether the edit changes anything.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }

    /// The issue's labels after the edit, from those it carried, sorted by name.
    pub fn apply(&self, current: Vec<Label>) -> Vec<Label> {
        sorted_labels(
            current
                .into_iter()
                .filter(|l| !self.removed.iter().any(|r| r.id == l.id))
                .chain(self.added.iter().cloned())
                .collect(),
        )
    }
}

impl LabelEdit {
    /// The names the edit refers to, each as written.
    pub fn named(&self) -> Vec<String> {
        match self {
            LabelEdit::Add(names) | LabelEdit::Replace(names) => names.clone(),
            LabelEdit::Remove(name) => vec![name.clone()],
        }
    }

    /// What the edit changes on an issue carrying `current`, given the labels it names
    /// (`wanted`, all of them existing). `None` when it removes a label the issue does not carry.
    ///
    /// ```
    /// use issue_tracker_domain::{Label, LabelEdit, LabelId};
    /// let label = |id, name: &str| Label { id: LabelId::from_stored(id), name: name.into(), color: "#ededed".into(), description: String::new() };
    /// let (bug, docs, ui) = (label(1, "bug"), label(2, "docs"), label(3, "UI"));
    /// let edit = LabelEdit::Replace(vec!["ui".into(), "bug".into()]);
    /// let diff = edit.diff(&[ui.clone(), bug.clone()], &[bug.clone(), docs.clone()]).unwrap();
    /// assert_eq!(diff.added, vec![ui]);
    /// assert_eq!(diff.removed, vec![docs]);
    /// assert_eq!(LabelEdit::Remove("ui".into()).diff(&[label(3, "UI")], &[bug]), None);
    /// ```
    pub fn diff(&self, wanted: &[Label], current: &[Label]) -> Option<LabelDiff> {
        let has = |list: &[Label], label: &Label| list.iter().any(|l| l.id == label.id);
        let missing_from = |from: &[Label], of: &[Label]| -> Vec<Label> {
            of.iter().filter(|l| !has(from, l)).cloned().collect()
        };
        let (added, removed) = match self {
            LabelEdit::Add(_) => (missing_from(current, wanted), Vec::new()),
            LabelEdit::Replace(_) => (missing_from(current, wanted), missing_from(wanted, current)),
            LabelEdit::Remove(_) => {
                let on: Vec<Label> = wanted.iter().filter(|l| has(current, l)).cloned().collect();
                if on.is_empty() {
                    return None;
                }
                (Vec::new(), on)
            }
        };
        Some(LabelDiff {
            added: sorted_labels(added),
            removed: sorted_labels(removed),
        })
    }
}

/// Labels sorted by name regardless of case (then as written), as every list shows them.
pub fn sorted_labels(mut list: Vec<Label>) -> Vec<Label> {
    list.sort_by_cached_key(|label| (label_key(&label.name), label.name.clone()));
    list
}
