//! Single-use, short-lived tickets for the websocket console: browsers
//! cannot set an Authorization header on a websocket, so a page first
//! `POST`s `/api/v1/tty-tickets` with its bearer token and then opens
//! `/api/tty/{ns}/{name}?ticket=…`. The ticket carries the token (kept in
//! memory only) and the CT it was issued for.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a ticket is valid.
pub const TICKET_TTL: Duration = Duration::from_secs(30);

struct Entry {
    token: String,
    namespace: String,
    name: String,
    issued: Instant,
}

/// The ticket store.
#[derive(Default)]
pub struct Tickets {
    inner: Mutex<HashMap<String, Entry>>,
}

impl Tickets {
    /// Issues a ticket for one CT.
    pub fn issue(&self, token: &str, namespace: &str, name: &str) -> Option<String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).ok()?;
        let ticket: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut m = self.inner.lock().ok()?;
        m.retain(|_, e| e.issued.elapsed() < TICKET_TTL);
        m.insert(
            ticket.clone(),
            Entry {
                token: token.to_string(),
                namespace: namespace.to_string(),
                name: name.to_string(),
                issued: Instant::now(),
            },
        );
        Some(ticket)
    }

    /// Takes a ticket (once): the token, if it is valid for this CT.
    pub fn redeem(&self, ticket: &str, namespace: &str, name: &str) -> Option<String> {
        let mut m = self.inner.lock().ok()?;
        let e = m.remove(ticket)?;
        (e.issued.elapsed() < TICKET_TTL && e.namespace == namespace && e.name == name)
            .then_some(e.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_are_single_use_and_bound_to_their_ct() {
        let t = Tickets::default();
        let a = t.issue("tok", "ns", "web1").unwrap();
        assert_eq!(a.len(), 64);
        assert_eq!(t.redeem(&a, "ns", "web1").as_deref(), Some("tok"));
        assert_eq!(t.redeem(&a, "ns", "web1"), None, "second use");
        let b = t.issue("tok", "ns", "web1").unwrap();
        assert_eq!(t.redeem(&b, "ns", "other"), None, "other CT");
        assert_eq!(
            t.redeem(&b, "ns", "web1"),
            None,
            "a failed redeem burns the ticket"
        );
        assert_eq!(t.redeem("nonsense", "ns", "web1"), None);
    }
}
