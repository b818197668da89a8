//! The three MRZ layouts of ICAO Doc 9303 (TD1, TD2, TD3): what each position may
//! hold and which check digits cover which positions.

/// An MRZ layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Identity cards (Part 5): 3 lines of 30.
    Td1,
    /// Part 6 documents and MRV-B visas: 2 lines of 36.
    Td2,
    /// Passports (Part 4) and MRV-A visas: 2 lines of 44.
    Td3,
}

/// What a position may hold. The filler `<` is allowed everywhere: in a name, in an
/// empty optional field, and for unknown parts of a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Letter,
    Digit,
    Any,
}

/// Positions `start..end` of one line (0-based).
pub(crate) type Span = (usize, usize, usize);

/// A check digit at `digit` (line, position), computed over `fields` in order.
pub(crate) struct Check {
    pub(crate) fields: &'static [Span],
    pub(crate) digit: (usize, usize),
}

/// Runs of positions of one class: (line, start, end, class); positions not listed are `Letter`.
type Layout = &'static [(usize, usize, usize, Class)];

const TD1_LAYOUT: Layout = &[
    (0, 5, 14, Class::Any),
    (0, 14, 15, Class::Digit),
    (0, 15, 30, Class::Any),
    (1, 0, 7, Class::Digit),
    (1, 8, 15, Class::Digit),
    (1, 18, 29, Class::Any),
    (1, 29, 30, Class::Digit),
];
const TD1_CHECKS: &[Check] = &[
    Check { fields: &[(0, 5, 14)], digit: (0, 14) },
    Check { fields: &[(1, 0, 6)], digit: (1, 6) },
    Check { fields: &[(1, 8, 14)], digit: (1, 14) },
    Check { fields: &[(0, 5, 30), (1, 0, 7), (1, 8, 15), (1, 18, 29)], digit: (1, 29) },
];

/// TD2 and TD3 differ only in the length of the name and of the optional data.
const TD2_LAYOUT: Layout = &[
    (1, 0, 9, Class::Any),
    (1, 9, 10, Class::Digit),
    (1, 13, 20, Class::Digit),
    (1, 21, 28, Class::Digit),
    (1, 28, 35, Class::Any),
    (1, 35, 36, Class::Digit),
];
const TD2_CHECKS: &[Check] = &[
    Check { fields: &[(1, 0, 9)], digit: (1, 9) },
    Check { fields: &[(1, 13, 19)], digit: (1, 19) },
    Check { fields: &[(1, 21, 27)], digit: (1, 27) },
    Check { fields: &[(1, 0, 10), (1, 13, 20), (1, 21, 35)], digit: (1, 35) },
];

const TD3_LAYOUT: Layout = &[
    (1, 0, 9, Class::Any),
    (1, 9, 10, Class::Digit),
    (1, 13, 20, Class::Digit),
    (1, 21, 28, Class::Digit),
    (1, 28, 42, Class::Any),
    (1, 42, 44, Class::Digit),
];
const TD3_CHECKS: &[Check] = &[
    Check { fields: &[(1, 0, 9)], digit: (1, 9) },
    Check { fields: &[(1, 13, 19)], digit: (1, 19) },
    Check { fields: &[(1, 21, 27)], digit: (1, 27) },
    Check { fields: &[(1, 28, 42)], digit: (1, 42) },
    Check { fields: &[(1, 0, 10), (1, 13, 20), (1, 21, 43)], digit: (1, 43) },
];

impl Format {
    /// Characters per line.
    pub(crate) fn length(self) -> usize {
        match self {
            Format::Td1 => 30,
            Format::Td2 => 36,
            Format::Td3 => 44,
        }
    }

    /// What position `pos` of line `line` may hold.
    pub(crate) fn class(self, line: usize, pos: usize) -> Class {
        let layout = match self {
            Format::Td1 => TD1_LAYOUT,
            Format::Td2 => TD2_LAYOUT,
            Format::Td3 => TD3_LAYOUT,
        };
        layout
            .iter()
            .find(|&&(l, start, end, _)| l == line && (start..end).contains(&pos))
            .map_or(Class::Letter, |&(.., class)| class)
    }

    /// The check digits, those over a single field first and the composite last.
    pub(crate) fn checks(self) -> &'static [Check] {
        match self {
            Format::Td1 => TD1_CHECKS,
            Format::Td2 => TD2_CHECKS,
            Format::Td3 => TD3_CHECKS,
        }
    }
}

/// The value a character has in a check-digit computation: digits as themselves,
/// A–Z as 10–35, the filler as 0.
pub(crate) fn value(c: u8) -> u32 {
    match c {
        b'0'..=b'9' => u32::from(c - b'0'),
        b'A'..=b'Z' => u32::from(c - b'A') + 10,
        _ => 0,
    }
}

/// The ICAO 9303 check digit over `chars`: values weighted 7, 3, 1, 7, 3, 1, …, modulo 10.
pub(crate) fn check_digit(chars: impl Iterator<Item = u8>) -> u8 {
    let sum: u32 = chars.zip([7, 3, 1].into_iter().cycle()).map(|(c, w)| value(c) * w).sum();
    b'0' + (sum % 10) as u8
}

impl Check {
    /// Whether the check digit in `lines` matches the fields it covers. A filler in
    /// place of the digit counts as 0 (allowed where the field is empty).
    pub(crate) fn holds(&self, lines: &[Vec<u8>]) -> bool {
        let chars = self.fields.iter().flat_map(|&(line, start, end)| lines[line][start..end].iter().copied());
        let (line, pos) = self.digit;
        let printed = match lines[line][pos] {
            b'<' => b'0',
            c => c,
        };
        check_digit(chars) == printed
    }

    /// Whether the check reads position `pos` of line `line`, as a field or as its digit.
    pub(crate) fn covers(&self, line: usize, pos: usize) -> bool {
        self.digit == (line, pos) || self.fields.iter().any(|&(l, start, end)| l == line && (start..end).contains(&pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TD3: [&str; 2] =
        ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"];
    const TD1: [&str; 3] =
        ["I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"];

    fn bytes(lines: &[&str]) -> Vec<Vec<u8>> {
        lines.iter().map(|l| l.as_bytes().to_vec()).collect()
    }

    #[test]
    fn the_icao_specimens_pass_every_check() {
        assert_eq!(check_digit(b"L898902C3".iter().copied()), b'6');
        assert!(Format::Td3.checks().iter().all(|c| c.holds(&bytes(&TD3))));
        assert!(Format::Td1.checks().iter().all(|c| c.holds(&bytes(&TD1))));
        let mut wrong = bytes(&TD3);
        wrong[1][15] = b'9';
        assert_eq!(Format::Td3.checks().iter().filter(|c| !c.holds(&wrong)).count(), 2);
    }

    #[test]
    fn classes_follow_the_layout() {
        assert_eq!(Format::Td3.class(0, 7), Class::Letter);
        assert_eq!(Format::Td3.class(1, 3), Class::Any);
        assert_eq!(Format::Td3.class(1, 15), Class::Digit);
        assert_eq!(Format::Td3.class(1, 20), Class::Letter);
        assert_eq!(Format::Td1.class(1, 7), Class::Letter);
        assert_eq!(Format::Td1.class(1, 29), Class::Digit);
        assert_eq!(Format::Td1.class(2, 0), Class::Letter);
        for format in [Format::Td1, Format::Td2, Format::Td3] {
            for check in format.checks() {
                let (line, pos) = check.digit;
                assert_eq!(format.class(line, pos), Class::Digit);
            }
        }
    }
}
