//! Prompt lookup: guesses of the next few tokens taken from the sequence itself. A reply repeats
//! much of its prompt — the customer's name, the goal's day and time, the business's name and
//! sign-off — so when the last tokens occurred earlier, the tokens that followed them there are
//! a cheap guess. The model checks a guess in the same pass that decodes the step: our kernels
//! stream each weight once for up to four input rows, so a pass over the step's token and three
//! guesses costs little more than the step alone, and every guess it agrees with is a step saved.
//! What is kept is what greedy decoding picks anyway, so the text does not change (up to
//! floating-point near-ties between the batched and the single-row attention).

/// Longest run of trailing tokens looked up; a longer match is a more reliable guess.
const MAX_NGRAM: usize = 3;

/// How lookup guesses are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lookup {
    /// Tokens guessed per step; 0 turns lookup off.
    pub tokens: usize,
    /// Fewest trailing tokens that must match. One token ("," or " the") matches almost
    /// anywhere and guesses badly, so the default asks for two.
    pub min_ngram: usize,
}

impl Lookup {
    pub const OFF: Lookup = Lookup {
        tokens: 0,
        min_ngram: 2,
    };

    /// Three guesses: with the step's own token that fills the four rows one kernel pass
    /// serves.
    pub const DEFAULT: Lookup = Lookup {
        tokens: 3,
        min_ngram: 2,
    };

    /// `PARLEY_LOOKUP_TOKENS` (0 turns it off) over the default, for comparing the two.
    pub fn from_env() -> Lookup {
        match std::env::var("PARLEY_LOOKUP_TOKENS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            Some(tokens) => Lookup {
                tokens,
                ..Lookup::DEFAULT
            },
            None => Lookup::DEFAULT,
        }
    }

    /// Up to `self.tokens` tokens that followed the latest earlier occurrence of the sequence's
    /// last `n` tokens, the longest `n` (from 3 down to `min_ngram`) that occurs first.
    pub fn guess(self, seq: &[u32]) -> &[u32] {
        if self.tokens == 0 {
            return &[];
        }
        let min = self.min_ngram.max(1);
        for n in (min..=MAX_NGRAM).rev() {
            if seq.len() <= n {
                continue;
            }
            let tail = &seq[seq.len() - n..];
            // latest first: the goal and the reply so far sit at the end of the prompt
            if let Some(at) = (0..seq.len() - n).rev().find(|&i| &seq[i..i + n] == tail) {
                let from = at + n;
                let to = (from + self.tokens).min(seq.len());
                return &seq[from..to];
            }
        }
        &[]
    }
}

/// How many guesses were made and kept in one generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LookupStats {
    pub guessed: usize,
    pub kept: usize,
    /// Passes that checked at least one guess.
    pub passes: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_what_followed_the_latest_match() {
        // "... 2 PM today ... at 2 PM" → "today ..."
        let seq = [7, 1, 2, 3, 9, 9, 5, 1, 2, 4, 8, 6, 1, 2];
        let l = Lookup::DEFAULT;
        // the latest "1 2" (at 7) is followed by 4 8 6
        assert_eq!(l.guess(&seq), &[4, 8, 6]);
    }

    #[test]
    fn a_longer_match_wins_over_a_later_shorter_one() {
        let seq = [5, 1, 2, 3, 9, 1, 2, 4, 0, 5, 1, 2];
        // "5 1 2" occurs at 0 (then 3 9 1); "1 2" alone occurs later at 5 (then 4 0 5)
        assert_eq!(Lookup::DEFAULT.guess(&seq), &[3, 9, 1]);
    }

    #[test]
    fn no_match_or_lookup_off_guesses_nothing() {
        let seq = [1, 2, 3, 4, 5];
        assert!(Lookup::DEFAULT.guess(&seq).is_empty());
        assert!(Lookup::OFF.guess(&[1, 2, 1, 2]).is_empty());
        // a single repeated token is not enough by default
        assert!(Lookup::DEFAULT.guess(&[4, 7, 8, 4]).is_empty());
        let single = Lookup {
            min_ngram: 1,
            ..Lookup::DEFAULT
        };
        assert_eq!(single.guess(&[4, 7, 8, 4]), &[7, 8, 4]);
    }

    #[test]
    fn a_guess_stops_at_the_end_of_the_sequence() {
        assert_eq!(Lookup::DEFAULT.guess(&[1, 2, 6, 1, 2]), &[6, 1, 2]);
        assert_eq!(Lookup::DEFAULT.guess(&[3, 1, 2, 1, 2]), &[1, 2]);
    }
}
