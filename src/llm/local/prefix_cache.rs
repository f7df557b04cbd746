//! Prompt-prefix KV cache: token sequences and their KV state, matched by longest common
//! prefix, evicted least-recently-used within a byte budget.

/// Something with a memory cost.
pub trait Weigh {
    fn bytes(&self) -> usize;
}

impl Weigh for super::model::KvSnapshot {
    fn bytes(&self) -> usize {
        super::model::KvSnapshot::bytes(self)
    }
}

struct Entry<T> {
    tokens: Vec<u32>,
    value: T,
    last_used: u64,
}

pub struct PrefixCache<T> {
    entries: Vec<Entry<T>>,
    budget: usize,
    used: usize,
    clock: u64,
}

/// A hit: how many leading tokens of the query the entry covers.
pub struct Hit<'a, T> {
    pub len: usize,
    pub value: &'a T,
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl<T: Weigh> PrefixCache<T> {
    pub fn new(budget_bytes: usize) -> Self {
        Self {
            entries: Vec::new(),
            budget: budget_bytes,
            used: 0,
            clock: 0,
        }
    }

    pub fn bytes_used(&self) -> usize {
        self.used
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry sharing the longest prefix with `tokens` (at least `min_len` tokens).
    pub fn lookup(&mut self, tokens: &[u32], min_len: usize) -> Option<Hit<'_, T>> {
        let (idx, len) = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i, common_prefix(&e.tokens, tokens)))
            .max_by_key(|&(_, n)| n)?;
        if len < min_len.max(1) {
            return None;
        }
        self.clock += 1;
        let e = &mut self.entries[idx];
        e.last_used = self.clock;
        Some(Hit {
            len,
            value: &e.value,
        })
    }

    /// Longest prefix of `tokens` already covered, without touching recency.
    pub fn covered(&self, tokens: &[u32]) -> usize {
        self.entries
            .iter()
            .map(|e| common_prefix(&e.tokens, tokens))
            .max()
            .unwrap_or(0)
    }

    /// Stores `value` for `tokens`. Entries that are a prefix of `tokens` are dropped (the new
    /// one covers them); if an entry already covers all of `tokens`, it is only touched.
    pub fn insert(&mut self, tokens: Vec<u32>, value: T) {
        self.clock += 1;
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| e.tokens.len() >= tokens.len() && e.tokens.starts_with(&tokens))
        {
            e.last_used = self.clock;
            return;
        }
        let size = value.bytes();
        if size > self.budget {
            return;
        }
        let mut freed = 0;
        self.entries.retain(|e| {
            let covered = tokens.starts_with(&e.tokens);
            if covered {
                freed += e.value.bytes();
            }
            !covered
        });
        self.used -= freed;
        while self.used + size > self.budget {
            let Some(oldest) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(i, _)| i)
            else {
                break;
            };
            let e = self.entries.swap_remove(oldest);
            self.used -= e.value.bytes();
        }
        self.used += size;
        self.entries.push(Entry {
            tokens,
            value,
            last_used: self.clock,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Blob(usize);
    impl Weigh for Blob {
        fn bytes(&self) -> usize {
            self.0
        }
    }

    #[test]
    fn lookup_finds_the_longest_shared_prefix() {
        let mut c = PrefixCache::new(1000);
        c.insert(vec![1, 2, 3, 4], Blob(10));
        c.insert(vec![1, 2, 9], Blob(10));
        let hit = c.lookup(&[1, 2, 3, 7, 7], 1).unwrap();
        assert_eq!(hit.len, 3);
        assert!(c.lookup(&[5, 6], 1).is_none());
        assert!(c.lookup(&[1, 2, 3], 4).is_none());
    }

    #[test]
    fn eviction_is_least_recently_used_within_the_byte_budget() {
        let mut c = PrefixCache::new(100);
        c.insert(vec![1], Blob(40));
        c.insert(vec![2], Blob(40));
        assert!(c.lookup(&[1], 1).is_some()); // 1 is now fresher than 2
        c.insert(vec![3], Blob(40));
        assert_eq!(c.bytes_used(), 80);
        assert!(c.lookup(&[2], 1).is_none());
        assert!(c.lookup(&[1], 1).is_some());
        c.insert(vec![4], Blob(500)); // larger than the whole budget: not kept
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn a_longer_sequence_replaces_its_prefixes() {
        let mut c = PrefixCache::new(100);
        c.insert(vec![1, 2], Blob(20));
        c.insert(vec![1, 2, 3], Blob(30));
        assert_eq!((c.len(), c.bytes_used()), (1, 30));
        c.insert(vec![1, 2], Blob(20)); // already covered
        assert_eq!((c.len(), c.bytes_used()), (1, 30));
    }
}
