//! Sets of event types: a bitmap over [`EventType::index`].

use std::fmt;
use std::sync::OnceLock;

use crate::event::EventType;

const WORDS: usize = EventType::COUNT.div_ceil(64);

/// A set of `evt.type` values.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EventTypeSet {
    bits: [u64; WORDS],
}

impl EventTypeSet {
    pub fn empty() -> Self {
        EventTypeSet { bits: [0; WORDS] }
    }

    /// Every known event type.
    pub fn all() -> Self {
        static ALL: OnceLock<EventTypeSet> = OnceLock::new();
        ALL.get_or_init(|| {
            let mut s = EventTypeSet::empty();
            for t in EventType::all() {
                s.insert(t);
            }
            s
        })
        .clone()
    }

    pub fn insert(&mut self, t: EventType) {
        let i = t.index();
        if let Some(w) = self.bits.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    #[inline]
    pub fn contains(&self, t: EventType) -> bool {
        let i = t.index();
        self.bits
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    pub fn union(&self, other: &Self) -> Self {
        let mut out = self.clone();
        for (a, b) in out.bits.iter_mut().zip(other.bits.iter()) {
            *a |= *b;
        }
        out
    }

    pub fn intersection(&self, other: &Self) -> Self {
        let mut out = self.clone();
        for (a, b) in out.bits.iter_mut().zip(other.bits.iter()) {
            *a &= *b;
        }
        out
    }

    /// Every known event type not in `self`.
    pub fn complement(&self) -> Self {
        let mut out = Self::all();
        for (a, b) in out.bits.iter_mut().zip(self.bits.iter()) {
            *a &= !*b;
        }
        out
    }

    pub fn len(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|w| *w == 0)
    }

    /// True when the set holds every known event type.
    pub fn is_all(&self) -> bool {
        *self == Self::all()
    }

    pub fn iter(&self) -> impl Iterator<Item = EventType> + '_ {
        EventType::all().filter(|t| self.contains(*t))
    }
}

impl Default for EventTypeSet {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for EventTypeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(|t| t.name()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_algebra() {
        let open = EventType::from_name("open").unwrap();
        let execve = EventType::from_name("execve").unwrap();
        let mut a = EventTypeSet::empty();
        a.insert(open);
        let mut b = EventTypeSet::empty();
        b.insert(execve);
        assert_eq!(a.union(&b).len(), 2);
        assert!(a.intersection(&b).is_empty());
        let not_a = a.complement();
        assert!(!not_a.contains(open));
        assert!(not_a.contains(execve));
        assert_eq!(not_a.len() + 1, EventTypeSet::all().len());
        assert!(EventTypeSet::all().is_all());
        assert!(not_a.contains(EventType::PROCEXIT));
    }
}
