//! The API server's table of open connections, and the cap on them.
//!
//! Owned by the API runtime's single thread (behind a mutex only so tasks can share it). At the
//! cap a new connection evicts the oldest one that is not serving an authenticated request: a
//! flood of idle or slow sockets pushes out its own oldest members, while the newest connection —
//! a real client that connects and speaks at once — gets its answer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

/// A connection's place in the table; older connections have smaller ids.
pub type ConnId = u64;

pub struct Connections {
    cap: usize,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    next_id: ConnId,
    open: BTreeMap<ConnId, Entry>,
}

struct Entry {
    /// Serving an authenticated request right now: never evicted.
    busy: bool,
    /// Dropped to evict: the connection's task sees its receiver close and drops the socket.
    _evict: oneshot::Sender<()>,
}

/// Resolves when the connection was evicted from the table (or the table is gone).
pub type Evicted = oneshot::Receiver<()>;

impl Connections {
    pub fn new(cap: usize) -> Arc<Connections> {
        Arc::new(Connections {
            cap: cap.max(1),
            table: Mutex::new(Table::default()),
        })
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // Every change is a single insert or remove: a panicking holder leaves it consistent.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Make room (evicting the oldest idle connections) and register a new connection. `None`
    /// when every open connection is busy with an authenticated request: the caller drops the
    /// new socket.
    pub fn admit(&self) -> Option<(ConnId, Evicted)> {
        let mut table = self.table();
        while table.open.len() >= self.cap {
            if !table.evict_oldest_idle() {
                return None;
            }
        }
        let id = table.next_id;
        table.next_id += 1;
        let (evict, evicted) = oneshot::channel();
        table.open.insert(
            id,
            Entry {
                busy: false,
                _evict: evict,
            },
        );
        Some((id, evicted))
    }

    /// Evict up to `count` of the oldest idle connections (file descriptors ran out).
    pub fn evict_idle(&self, count: usize) -> usize {
        let mut table = self.table();
        (0..count).take_while(|_| table.evict_oldest_idle()).count()
    }

    pub fn set_busy(&self, id: ConnId, busy: bool) {
        if let Some(entry) = self.table().open.get_mut(&id) {
            entry.busy = busy;
        }
    }

    pub fn remove(&self, id: ConnId) {
        self.table().open.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.table().open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Table {
    fn evict_oldest_idle(&mut self) -> bool {
        let oldest = self
            .open
            .iter()
            .find(|(_, entry)| !entry.busy)
            .map(|(id, _)| *id);
        oldest.is_some_and(|id| self.open.remove(&id).is_some())
    }
}

/// Marks a connection busy while an authenticated request is answered.
pub struct BusyGuard {
    connections: Arc<Connections>,
    id: ConnId,
}

impl BusyGuard {
    pub fn new(connections: &Arc<Connections>, id: ConnId) -> BusyGuard {
        connections.set_busy(id, true);
        BusyGuard {
            connections: Arc::clone(connections),
            id,
        }
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.connections.set_busy(self.id, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_oldest_idle_connection_goes() {
        let table = Connections::new(3);
        let (first, mut first_evicted) = table.admit().unwrap();
        let (second, _second_evicted) = table.admit().unwrap();
        let (_third, _third_evicted) = table.admit().unwrap();
        table.set_busy(first, true);
        // The first is busy: the second (the oldest idle one) makes room.
        let (_fourth, _fourth_evicted) = table.admit().unwrap();
        assert_eq!(table.len(), 3);
        assert_eq!(
            first_evicted.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        );
        table.remove(second); // already gone: no effect
        assert_eq!(table.len(), 3);
    }

    #[test]
    fn evicted_connections_are_told() {
        let table = Connections::new(1);
        let (_id, mut evicted) = table.admit().unwrap();
        let _newer = table.admit().unwrap();
        assert_eq!(
            evicted.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        );
    }

    #[test]
    fn when_every_connection_is_busy_the_new_one_is_refused() {
        let table = Connections::new(2);
        let (a, _ea) = table.admit().unwrap();
        let (b, _eb) = table.admit().unwrap();
        table.set_busy(a, true);
        let _guard = BusyGuard::new(&table, b);
        assert!(table.admit().is_none());
        drop(_guard);
        assert!(table.admit().is_some());
        assert_eq!(table.evict_idle(10), 1, "only the idle one goes");
    }
}
