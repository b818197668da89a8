//! Values a client sent, cut to a bounded length wherever they are logged: a 200 KB AP_ID
//! must not become a 200 KB log line.

use std::fmt;

/// The most characters of a client's value that a log line shows.
pub const SHOWN: usize = 64;

/// Displays at most [`SHOWN`] characters of the value, then how long it really was.
/// Control characters are shown escaped, so a value cannot forge a log line.
pub struct Clipped<'a>(pub &'a str);

impl fmt::Display for Clipped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars().take(SHOWN) {
            write!(f, "{}", c.escape_debug())?;
        }
        if self.0.chars().nth(SHOWN).is_some() {
            write!(f, "…({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Clipped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_shown_whole() {
        assert_eq!(Clipped("mid://demo").to_string(), "mid://demo");
    }

    #[test]
    fn long_values_are_cut_and_say_their_length() {
        let long = "x".repeat(200_000);
        assert_eq!(Clipped(&long).to_string(), format!("{}…(200000 bytes)", "x".repeat(SHOWN)));
    }

    #[test]
    fn control_characters_cannot_start_a_new_line() {
        assert_eq!(Clipped("a\nrefused: forged").to_string(), "a\\nrefused: forged");
    }
}
