//! A fixed-size bit set, for row-liveness vectors and feature sets in clustering.

/// Bits `0..len` packed into 64-bit words.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BitSet {
    words: Vec<u64>,
    len: usize,
}

impl BitSet {
    pub fn new(len: usize) -> Self {
        BitSet { words: vec![0; len.div_ceil(64)], len }
    }
    pub fn full(len: usize) -> Self {
        let mut b = BitSet::new(len);
        for i in 0..len {
            b.insert(i);
        }
        b
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn insert(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
    }
    pub fn remove(&mut self, i: usize) {
        self.words[i / 64] &= !(1 << (i % 64));
    }
    pub fn contains(&self, i: usize) -> bool {
        self.words[i / 64] >> (i % 64) & 1 == 1
    }
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
    pub fn none(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }
    /// `|self \ other|`.
    pub fn count_minus(&self, other: &BitSet) -> usize {
        self.words.iter().zip(&other.words).map(|(a, b)| (a & !b).count_ones() as usize).sum()
    }
    /// `|self ∩ other|`.
    pub fn count_and(&self, other: &BitSet) -> usize {
        self.words.iter().zip(&other.words).map(|(a, b)| (a & b).count_ones() as usize).sum()
    }
    pub fn union_with(&mut self, other: &BitSet) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
    }
    pub fn intersect_with(&mut self, other: &BitSet) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= b;
        }
    }
    /// Indices of set bits, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, w)| {
            let mut w = *w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let t = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + t)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        let mut a = BitSet::new(130);
        for i in [0, 5, 64, 129] {
            a.insert(i);
        }
        let mut b = BitSet::new(130);
        for i in [5, 64, 100] {
            b.insert(i);
        }
        assert_eq!(a.count(), 4);
        assert_eq!(a.count_minus(&b), 2); // {0, 129}
        assert_eq!(a.count_and(&b), 2); // {5, 64}
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![0, 5, 64, 129]);
        a.intersect_with(&b);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![5, 64]);
        a.union_with(&b);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![5, 64, 100]);
        a.remove(64);
        assert!(!a.contains(64) && a.contains(100));
        assert!(BitSet::new(3).none());
        assert_eq!(BitSet::full(70).count(), 70);
    }
}
