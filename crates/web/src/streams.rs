//! Bounds on the live streams (server-sent events): how many one token, and one server, hold
//! open at once. A [`StreamSlot`] is held for the life of a stream and freed when it is dropped
//! (the client went away, the token was revoked, the server stops).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The open streams of one server, counted per token.
#[derive(Debug, Default)]
pub struct StreamSlots {
    open: Mutex<(usize, HashMap<i64, usize>)>,
}

/// Why a stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamsFull {
    /// The token holds its share already.
    Token(usize),
    /// The server holds its share already.
    Server(usize),
}

impl StreamSlots {
    /// A slot for a stream of `token`, within `per_token` and `per_server`.
    pub fn take(
        self: &Arc<Self>,
        token: i64,
        per_token: usize,
        per_server: usize,
    ) -> Result<StreamSlot, StreamsFull> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let (total, by_token) = &mut *open;
        if *total >= per_server {
            return Err(StreamsFull::Server(per_server));
        }
        let mine = by_token.entry(token).or_insert(0);
        if *mine >= per_token {
            return Err(StreamsFull::Token(per_token));
        }
        *mine += 1;
        *total += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            token,
        })
    }

    /// How many streams are open.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).0
    }
}

/// One open stream's place; given back when dropped.
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    token: i64,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        let (total, by_token) = &mut *open;
        *total = total.saturating_sub(1);
        if let Some(mine) = by_token.get_mut(&self.token) {
            *mine -= 1;
            if *mine == 0 {
                by_token.remove(&self.token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_per_token_and_per_server_and_come_back() {
        let slots = Arc::new(StreamSlots::default());
        let a1 = slots.take(1, 2, 3).unwrap();
        let _a2 = slots.take(1, 2, 3).unwrap();
        assert_eq!(slots.take(1, 2, 3).unwrap_err(), StreamsFull::Token(2));
        let _b1 = slots.take(2, 2, 3).unwrap();
        assert_eq!(slots.take(3, 2, 3).unwrap_err(), StreamsFull::Server(3));
        drop(a1);
        assert_eq!(slots.open(), 2);
        assert!(slots.take(1, 2, 3).is_ok());
    }
}
