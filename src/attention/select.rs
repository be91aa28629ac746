//! Which keys a query attends to: all of them, the top N, or the hierarchical top-k of
//! CAMformer (top `per_tile` of every `tile` consecutive scores, then the global top N of those
//! candidates).
//!
//! One definition serves the float reference, the bit-exact simulator and the RTL: keys are
//! ranked by their score (best first) and **ties go to the lower key index**. HAD scores are
//! integer Hamming distances, so ties are common and the rule matters; the RTL's insertion
//! list realises exactly this order (a new key, having a larger index than every key already
//! listed, is inserted behind all entries with an equal score).

use crate::ir::OpError;
use serde::Serialize;
use std::cmp::Ordering;

/// The key-selection rule of one attention layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Selection {
    /// Every key (plain softmax).
    All,
    /// The `n` best scores per query row; the rest are masked to `-inf` before the softmax.
    TopN { n: usize },
    /// Top `per_tile` of each run of `tile` consecutive keys (the last run may be shorter),
    /// then the top `n` of those candidates.
    Hierarchical { n: usize, tile: usize, per_tile: usize },
}

impl Selection {
    /// How many keys survive for a sequence of `s` keys.
    pub fn kept(&self, s: usize) -> usize {
        match *self {
            Selection::All => s,
            Selection::TopN { n } => n.min(s),
            Selection::Hierarchical { n, tile, per_tile } => n.min(candidates(s, tile, per_tile)),
        }
    }

    /// Checks the parameters against a sequence length; the message names the problem.
    pub fn validate(&self, s: usize) -> Result<(), OpError> {
        match *self {
            Selection::All => Ok(()),
            Selection::TopN { n: 0 } => Err(OpError::Attribute("top-N needs N >= 1".into())),
            Selection::TopN { .. } => Ok(()),
            Selection::Hierarchical { n, tile, per_tile } => {
                if n == 0 || tile == 0 || per_tile == 0 || per_tile > tile {
                    return Err(OpError::Attribute(format!(
                        "hierarchical top-k needs n >= 1 and 1 <= per_tile ({per_tile}) <= tile ({tile})"
                    )));
                }
                let c = candidates(s, tile, per_tile);
                if n > c {
                    return Err(OpError::Attribute(format!(
                        "hierarchical top-{n} over {s} keys: tiles of {tile} keep only {c} candidates \
                         (top-{per_tile} each); lower N or use plain top-N"
                    )));
                }
                Ok(())
            }
        }
    }
}

/// Number of candidates the first hierarchical stage passes on for `s` keys.
pub fn candidates(s: usize, tile: usize, per_tile: usize) -> usize {
    if tile == 0 {
        return 0;
    }
    (s / tile) * per_tile + (s % tile).min(per_tile)
}

/// The kept key indices, best first, for `s` keys ranked by `cmp` (`Less` means the first key
/// scores better); ties in `cmp` are broken by the lower index.
pub fn select(s: usize, sel: &Selection, cmp: impl Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let rank = |a: &usize, b: &usize| cmp(*a, *b).then(a.cmp(b));
    match *sel {
        Selection::All => (0..s).collect(),
        Selection::TopN { n } => {
            let mut idx: Vec<usize> = (0..s).collect();
            idx.sort_by(rank);
            idx.truncate(n);
            idx
        }
        Selection::Hierarchical { n, tile, per_tile } => {
            let mut cand = Vec::new();
            for start in (0..s).step_by(tile.max(1)) {
                let mut t: Vec<usize> = (start..(start + tile).min(s)).collect();
                t.sort_by(rank);
                cand.extend(t.into_iter().take(per_tile));
            }
            cand.sort_by(rank);
            cand.truncate(n);
            cand
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_the_lower_index() {
        // Hamming distances (smaller is better): keys 1, 2 and 4 tie at 3.
        let hd = [5, 3, 3, 7, 3, 1];
        let by_hd = |a: usize, b: usize| hd[a].cmp(&hd[b]);
        assert_eq!(select(6, &Selection::TopN { n: 3 }, by_hd), vec![5, 1, 2]);
        assert_eq!(select(6, &Selection::TopN { n: 10 }, by_hd), vec![5, 1, 2, 4, 0, 3]);
        assert_eq!(select(6, &Selection::All, by_hd), vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn hierarchical_by_hand() {
        // Tiles of 3: [5,3,3] -> top-2 {1, 2}; [7,3,1] -> top-2 {5, 4}. Global top-3 of
        // candidates {1(3), 2(3), 5(1), 4(3)} = 5, then the 3s by index: 1, 2.
        let hd = [5, 3, 3, 7, 3, 1];
        let sel = Selection::Hierarchical { n: 3, tile: 3, per_tile: 2 };
        assert_eq!(select(6, &sel, |a, b| hd[a].cmp(&hd[b])), vec![5, 1, 2]);
        assert_eq!(candidates(6, 3, 2), 4);
        assert_eq!(candidates(17, 16, 2), 3);
        assert!(Selection::Hierarchical { n: 8, tile: 16, per_tile: 2 }.validate(17).is_err());
        // CAMformer: 1024 keys in tiles of 16 keep 128 candidates; top-32 of them is valid.
        assert_eq!(candidates(1024, 16, 2), 128);
        assert!(Selection::Hierarchical { n: 32, tile: 16, per_tile: 2 }.validate(1024).is_ok());
    }
}
