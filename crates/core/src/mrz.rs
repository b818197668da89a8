//! Machine-readable zones (MRZ) of travel documents, ICAO Doc 9303 parts 3 to 6: the
//! three-line card (TD1), the two-line card (TD2) and the passport (TD3).
//!
//! [`parse`] reads a zone as scanned or typed and checks every check digit of its format;
//! [`Mrz`] then answers what a verifier asks (is the document expired, how old is the
//! holder) and [`names_match`] whether a stated name is the holder's.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

/// Pads fields and separates the components of a name.
const FILLER: char = '<';

/// The size of a machine-readable travel document, which fixes the layout of its zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MrzFormat {
    /// 3 lines of 30 characters: ID-1 size cards (Doc 9303 part 5).
    Td1,
    /// 2 lines of 36 characters: ID-2 size cards (part 6).
    Td2,
    /// 2 lines of 44 characters: passports (part 4).
    Td3,
}

impl MrzFormat {
    const ALL: [MrzFormat; 3] = [MrzFormat::Td1, MrzFormat::Td2, MrzFormat::Td3];

    /// The format whose zone has `lines` lines of `width` characters.
    fn of_shape(lines: usize, width: usize) -> Option<MrzFormat> {
        match (lines, width) {
            (3, 30) => Some(MrzFormat::Td1),
            (2, 36) => Some(MrzFormat::Td2),
            (2, 44) => Some(MrzFormat::Td3),
            _ => None,
        }
    }

    fn layout(self) -> &'static Layout {
        match self {
            MrzFormat::Td1 => &TD1,
            MrzFormat::Td2 => &TD2,
            MrzFormat::Td3 => &TD3,
        }
    }
}

/// One check digit of a zone: the data it covers, the digit that data gives and the
/// character printed for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckDigit {
    /// `document_number`, `birth_date`, `expiry_date`, `personal_number` or `composite`.
    pub field: &'static str,
    /// The characters the digit covers, fillers included, as printed.
    pub data: String,
    /// The digit computed from `data`.
    pub expected: char,
    /// The character printed in the check digit's position.
    pub found: char,
    pub ok: bool,
}

impl CheckDigit {
    fn new(field: &'static str, data: String, found: char) -> CheckDigit {
        let expected = check_digit(&data);
        CheckDigit { field, ok: found == expected, data, expected, found }
    }

    /// A field the issuer may leave empty: when it is all fillers, its check digit may be a
    /// filler too (TD3's personal number).
    fn allowing_empty(field: &'static str, data: String, found: char) -> CheckDigit {
        let empty = data.chars().all(|c| c == FILLER);
        let mut check = CheckDigit::new(field, data, found);
        check.ok |= empty && found == FILLER;
        check
    }
}

/// A parsed zone. Text fields have their padding fillers removed; dates are as printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mrz {
    pub format: MrzFormat,
    /// "P", "ID", "I", "AC", …
    pub document_code: String,
    /// Three letters, or fewer ("D" for Germany).
    pub issuing_state: String,
    /// The primary identifier, components separated by spaces, e.g. "ERIKSSON".
    pub surname: String,
    /// The secondary identifier, e.g. "ANNA MARIA"; empty if the holder has one name only.
    pub given_names: String,
    /// All of it, also when a long number continues in the optional data (TD1, TD2).
    pub document_number: String,
    pub nationality: String,
    /// YYMMDD as printed; unknown parts may be fillers.
    pub birth_date: String,
    /// 'M', 'F', 'X' or '<' (unspecified).
    pub sex: char,
    /// YYMMDD as printed.
    pub expiry_date: String,
    /// TD3's personal number, or the optional data of TD1 and TD2 (what a long document
    /// number leaves of it); TD1's two fields are joined with a space.
    pub optional_data: String,
    /// The zone's lines after normalisation.
    pub lines: Vec<String>,
    /// Every check digit of the format, in the order printed, the composite last.
    pub checks: Vec<CheckDigit>,
}

/// Why a text is not a machine-readable zone. Check digits that do not match are not an
/// error: they are reported in [`Mrz::checks`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MrzError {
    /// Not 3 lines of 30, 2 of 36 or 2 of 44 characters; the lengths found.
    #[error("an MRZ has 3 lines of 30 characters, 2 of 36 or 2 of 44; found lines of {lengths:?}")]
    Shape { lengths: Vec<usize> },
    /// A character other than A-Z, 0-9 and '<', at a line and position counted from 1
    /// after blank lines and spaces are removed.
    #[error("line {line}, position {position}: {found:?} is not A-Z, 0-9 or '<'")]
    BadCharacter { line: usize, position: usize, found: char },
    #[error("the sex is {0:?}, not M, F, X or '<'")]
    Sex(char),
}

/// Reads a zone: lines separated by any line break, blank lines ignored, spaces (which
/// OCR and people insert) removed, lower case accepted.
pub fn parse(text: &str) -> Result<Mrz, MrzError> {
    let lines = normalised_lines(text)?;
    let width = lines.first().map_or(0, String::len);
    let format = MrzFormat::of_shape(lines.len(), width)
        .filter(|_| lines.iter().all(|line| line.len() == width))
        .ok_or_else(|| MrzError::Shape { lengths: lines.iter().map(String::len).collect() })?;
    read(format, lines)
}

/// The ICAO check digit of `data`: the sum of its character values weighted 7, 3, 1, 7, …,
/// modulo 10. Digits count their value, A-Z 10 to 35, and the filler (like any other
/// character) 0.
pub fn check_digit(data: &str) -> char {
    let sum = data.chars().zip([7, 3, 1].into_iter().cycle()).fold(0, |sum, (c, weight)| {
        let value = c.to_digit(36).filter(|_| c.is_ascii_digit() || c.is_ascii_uppercase()).unwrap_or(0);
        (sum + value * weight) % 10
    });
    char::from_digit(sum, 10).expect("a remainder modulo 10 is a digit")
}

impl Mrz {
    /// Whether every check digit matches its data.
    pub fn check_digits_valid(&self) -> bool {
        self.checks.iter().all(|check| check.ok)
    }

    /// The date of birth, in the latest century that does not put it after `today`.
    /// None if the date is unknown or not a date.
    pub fn birth_date_on(&self, today: NaiveDate) -> Option<NaiveDate> {
        let (yy, month, day) = date_parts(&self.birth_date)?;
        let century = today.year() - today.year().rem_euclid(100);
        [century + yy, century - 100 + yy]
            .into_iter()
            .filter_map(|year| NaiveDate::from_ymd_opt(year, month, day))
            .find(|date| *date <= today)
    }

    /// The date of expiry, taken as 20YY: documents are valid for at most 10 to 15 years.
    pub fn expiry(&self) -> Option<NaiveDate> {
        let (yy, month, day) = date_parts(&self.expiry_date)?;
        NaiveDate::from_ymd_opt(2000 + yy, month, day)
    }

    /// Whether the document is no longer valid on `today` (it is on its expiry date), or
    /// has no readable expiry date.
    pub fn expired_on(&self, today: NaiveDate) -> bool {
        self.expiry().is_none_or(|expiry| expiry < today)
    }

    /// The holder's age in whole years on `today`, if the date of birth is known.
    pub fn age_on(&self, today: NaiveDate) -> Option<u32> {
        today.years_since(self.birth_date_on(today)?)
    }

    /// Whether `stated` is the holder's name, as [`names_match`] decides; the name is taken
    /// as possibly truncated exactly when it fills this zone's name field.
    pub fn name_matches(&self, stated: &str) -> bool {
        let name = self.format.layout().name;
        let field = name.text(&self.lines);
        let filled = field.len() == name.width() && !field.ends_with(FILLER);
        holder_named(stated, &holder_words(&self.surname, &self.given_names, filled))
    }
}

/// Whether a stated name ("Anna-Maria Müller", "Müller Anna") is that of the MRZ's holder.
///
/// Tolerates case, diacritics both removed ("MULLER") and transliterated as in Doc 9303
/// part 3 ("MUELLER"; ß, Æ, Ø, Å, Þ, …), hyphens and other punctuation as separators,
/// apostrophes omitted or as separators, any word order, and a last MRZ word cut short by
/// truncation when the name would fill a name field (TD1, TD2 or TD3): a stated word then
/// only has to start with it. Every stated word must be a distinct MRZ word and every word
/// of the surname must be stated; given names may be left out. An empty stated name
/// matches nothing.
pub fn names_match(stated: &str, surname: &str, given_names: &str) -> bool {
    let length = name_field_length(surname, given_names);
    let filled = MrzFormat::ALL.iter().any(|format| format.layout().name.width() == length);
    holder_named(stated, &holder_words(surname, given_names, filled))
}

/// Where a field is printed: its line (from 0) and first and last positions (from 1, as in
/// the Doc 9303 tables).
#[derive(Clone, Copy)]
struct Span {
    line: usize,
    first: usize,
    last: usize,
}

impl Span {
    const fn new(line: usize, first: usize, last: usize) -> Span {
        Span { line, first, last }
    }

    fn width(self) -> usize {
        self.last + 1 - self.first
    }

    /// The field's characters; empty if the lines are too short to hold it.
    fn text(self, lines: &[String]) -> &str {
        lines.get(self.line).and_then(|line| line.get(self.first - 1..self.last)).unwrap_or("")
    }

    /// The field's first character.
    fn char(self, lines: &[String]) -> char {
        self.text(lines).chars().next().unwrap_or(FILLER)
    }

    /// The character right after the field, where its check digit is printed.
    fn check(self, lines: &[String]) -> char {
        Span::new(self.line, self.last + 1, self.last + 1).char(lines)
    }

    fn checked(self, field: &'static str, lines: &[String]) -> CheckDigit {
        CheckDigit::new(field, self.text(lines).to_owned(), self.check(lines))
    }
}

/// Where a format prints each field. A checked field's check digit follows it.
struct Layout {
    document_code: Span,
    issuing_state: Span,
    name: Span,
    document_number: Span,
    nationality: Span,
    birth_date: Span,
    sex: Span,
    expiry_date: Span,
    /// The optional data after the document number's check digit (which starts with the
    /// rest of a long document number), or TD3's personal number.
    optional_data: Span,
    /// TD1's second optional data field.
    more_optional_data: Option<Span>,
    /// Whether the optional data is a personal number with its own check digit (TD3).
    personal_number: bool,
    /// What the composite check digit covers; it follows the last span.
    composite: &'static [Span],
}

const TD1: Layout = Layout {
    document_code: Span::new(0, 1, 2),
    issuing_state: Span::new(0, 3, 5),
    document_number: Span::new(0, 6, 14),
    optional_data: Span::new(0, 16, 30),
    birth_date: Span::new(1, 1, 6),
    sex: Span::new(1, 8, 8),
    expiry_date: Span::new(1, 9, 14),
    nationality: Span::new(1, 16, 18),
    more_optional_data: Some(Span::new(1, 19, 29)),
    name: Span::new(2, 1, 30),
    personal_number: false,
    composite: &[Span::new(0, 6, 30), Span::new(1, 1, 7), Span::new(1, 9, 15), Span::new(1, 19, 29)],
};

const TD2: Layout = Layout {
    document_code: Span::new(0, 1, 2),
    issuing_state: Span::new(0, 3, 5),
    name: Span::new(0, 6, 36),
    document_number: Span::new(1, 1, 9),
    nationality: Span::new(1, 11, 13),
    birth_date: Span::new(1, 14, 19),
    sex: Span::new(1, 21, 21),
    expiry_date: Span::new(1, 22, 27),
    optional_data: Span::new(1, 29, 35),
    more_optional_data: None,
    personal_number: false,
    composite: &[Span::new(1, 1, 10), Span::new(1, 14, 20), Span::new(1, 22, 35)],
};

const TD3: Layout = Layout {
    document_code: Span::new(0, 1, 2),
    issuing_state: Span::new(0, 3, 5),
    name: Span::new(0, 6, 44),
    document_number: Span::new(1, 1, 9),
    nationality: Span::new(1, 11, 13),
    birth_date: Span::new(1, 14, 19),
    sex: Span::new(1, 21, 21),
    expiry_date: Span::new(1, 22, 27),
    optional_data: Span::new(1, 29, 42),
    more_optional_data: None,
    personal_number: true,
    composite: &[Span::new(1, 1, 10), Span::new(1, 14, 20), Span::new(1, 22, 43)],
};

/// The non-blank lines of `text`, without spaces, in upper case, holding only MRZ characters.
fn normalised_lines(text: &str) -> Result<Vec<String>, MrzError> {
    text.split(is_line_break)
        .map(|line| line.chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect::<String>())
        .filter(|line| !line.is_empty())
        .enumerate()
        .map(|(index, line)| match line.chars().enumerate().find(|&(_, c)| !is_mrz_character(c)) {
            Some((position, found)) => Err(MrzError::BadCharacter { line: index + 1, position: position + 1, found }),
            None => Ok(line),
        })
        .collect()
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_mrz_character(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || c == FILLER
}

/// Reads the fields of well-formed lines of `format`.
fn read(format: MrzFormat, lines: Vec<String>) -> Result<Mrz, MrzError> {
    let layout = format.layout();
    let text = |span: Span| span.text(&lines);
    let sex = match layout.sex.char(&lines) {
        sex @ ('M' | 'F' | 'X' | FILLER) => sex,
        other => return Err(MrzError::Sex(other)),
    };
    let number = layout.document_number;
    let (number, optional_data) = if layout.personal_number {
        (DocumentNumber { printed: text(number).to_owned(), check: number.check(&lines) }, text(layout.optional_data))
    } else {
        DocumentNumber::continued(text(number), number.check(&lines), text(layout.optional_data))
    };
    let mut checks = vec![
        CheckDigit::new("document_number", number.printed.clone(), number.check),
        layout.birth_date.checked("birth_date", &lines),
        layout.expiry_date.checked("expiry_date", &lines),
    ];
    if layout.personal_number {
        let field = layout.optional_data;
        checks.push(CheckDigit::allowing_empty("personal_number", text(field).to_owned(), field.check(&lines)));
    }
    checks.push(composite(layout.composite, &lines));
    let (surname, given_names) = split_name(text(layout.name));
    let optional_data = [optional_data, layout.more_optional_data.map_or("", text)]
        .map(without_fillers)
        .into_iter()
        .filter(|data| !data.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Mrz {
        format,
        document_code: without_fillers(text(layout.document_code)),
        issuing_state: without_fillers(text(layout.issuing_state)),
        surname,
        given_names,
        document_number: without_fillers(&number.printed),
        nationality: without_fillers(text(layout.nationality)),
        birth_date: text(layout.birth_date).to_owned(),
        sex,
        expiry_date: text(layout.expiry_date).to_owned(),
        optional_data,
        checks,
        lines,
    })
}

/// A document number as printed and the check digit printed for it.
struct DocumentNumber {
    printed: String,
    check: char,
}

impl DocumentNumber {
    /// Reads the document number of a TD1 or TD2. A filler in its check digit's position
    /// means the number is longer than 9 characters: the rest starts the optional data and
    /// ends with its own check digit before the next filler. Returns what is left of the
    /// optional data too.
    fn continued<'a>(principal: &str, check: char, optional_data: &'a str) -> (DocumentNumber, &'a str) {
        let continued_length = optional_data.find(FILLER).unwrap_or(optional_data.len());
        if check != FILLER || continued_length == 0 {
            return (DocumentNumber { printed: principal.to_owned(), check }, optional_data);
        }
        let (continuation, rest) = optional_data.split_at(continued_length);
        let (more, own_check) = continuation.split_at(continued_length - 1);
        let check = own_check.chars().next().unwrap_or(FILLER);
        (DocumentNumber { printed: format!("{principal}{more}"), check }, rest)
    }
}

fn composite(spans: &[Span], lines: &[String]) -> CheckDigit {
    let data = spans.iter().map(|span| span.text(lines)).collect();
    let found = spans.last().map_or(FILLER, |span| span.check(lines));
    CheckDigit::new("composite", data, found)
}

fn without_fillers(field: &str) -> String {
    field.trim_matches(FILLER).to_owned()
}

/// Splits a name field at its first double filler into primary and secondary identifier,
/// each with its components separated by single spaces.
fn split_name(field: &str) -> (String, String) {
    let (primary, secondary) = field.split_once("<<").unwrap_or((field, ""));
    (name_words(primary).collect::<Vec<_>>().join(" "), name_words(secondary).collect::<Vec<_>>().join(" "))
}

/// The words of a name as an MRZ gives it, separated by fillers or spaces, in upper case.
fn name_words(name: &str) -> impl Iterator<Item = String> + '_ {
    name.split([' ', FILLER]).filter(|word| !word.is_empty()).map(str::to_ascii_uppercase)
}

/// Year (two digits), month and day of a YYMMDD date.
fn date_parts(yymmdd: &str) -> Option<(i32, u32, u32)> {
    if yymmdd.len() != 6 || !yymmdd.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = |from: usize| yymmdd[from..from + 2].parse::<u32>().ok();
    Some((i32::try_from(number(0)?).ok()?, number(2)?, number(4)?))
}

/// How many characters the name takes in an MRZ name field.
fn name_field_length(surname: &str, given_names: &str) -> usize {
    let length = |name: &str| name_words(name).collect::<Vec<_>>().join("<").len();
    match length(given_names) {
        0 => length(surname),
        given => length(surname) + 2 + given,
    }
}

/// A word of the holder's name in the MRZ.
struct HolderWord {
    text: String,
    /// Whether it belongs to the surname (primary identifier).
    surname: bool,
    /// Whether truncation may have cut it short: the last word of a full name field.
    may_be_cut: bool,
}

fn holder_words(surname: &str, given_names: &str, filled: bool) -> Vec<HolderWord> {
    let mut words: Vec<HolderWord> = name_words(surname)
        .map(|text| (text, true))
        .chain(name_words(given_names).map(|text| (text, false)))
        .map(|(text, surname)| HolderWord { text, surname, may_be_cut: false })
        .collect();
    if let Some(last) = words.last_mut() {
        last.may_be_cut = filled;
    }
    words
}

/// Whether `stated` names the holder, reading its apostrophes as Doc 9303 does (omitted:
/// O'Brien is OBRIEN) or, failing that, as separators (O BRIEN).
fn holder_named(stated: &str, holder: &[HolderWord]) -> bool {
    [false, true]
        .into_iter()
        .any(|apostrophe_separates| assignable(&stated_words(stated, apostrophe_separates), holder))
}

/// The words of a stated name in upper case, split at spaces, hyphens and punctuation.
fn stated_words(stated: &str, apostrophe_separates: bool) -> Vec<Vec<char>> {
    let spaced: String = stated
        .chars()
        .flat_map(char::to_uppercase)
        .filter_map(|c| match c {
            '\'' | '’' | '‘' | 'ʼ' | '`' | '´' => apostrophe_separates.then_some(' '),
            '-' | '‐' | '‑' | '‒' | '–' | '—' | ',' | '.' | FILLER => Some(' '),
            c => Some(c),
        })
        .collect();
    spaced.split_whitespace().map(|word| word.chars().collect()).collect()
}

/// Whether each stated word can be given a distinct holder word it spells, with every
/// surname word given to one. Given names the statement leaves out are taken by
/// placeholders, so this is a search for a perfect bipartite matching (augmenting paths).
fn assignable(stated: &[Vec<char>], holder: &[HolderWord]) -> bool {
    if stated.is_empty() || stated.len() > holder.len() {
        return false;
    }
    let given_names: Vec<usize> = (0..holder.len()).filter(|&index| !holder[index].surname).collect();
    let candidates: Vec<Vec<usize>> = stated
        .iter()
        .map(|word| (0..holder.len()).filter(|&index| spells(word, &holder[index])).collect())
        .chain(std::iter::repeat_n(given_names, holder.len() - stated.len()))
        .collect();
    let mut taken_by = vec![None; holder.len()];
    (0..candidates.len()).all(|word| assign(word, &candidates, &mut taken_by, &mut vec![false; holder.len()]))
}

/// Gives `word` one of its candidates, moving earlier words to others where needed.
fn assign(word: usize, candidates: &[Vec<usize>], taken_by: &mut [Option<usize>], tried: &mut [bool]) -> bool {
    for &target in &candidates[word] {
        if tried[target] {
            continue;
        }
        tried[target] = true;
        if taken_by[target].is_none_or(|other| assign(other, candidates, taken_by, tried)) {
            taken_by[target] = Some(word);
            return true;
        }
    }
    false
}

/// Whether some MRZ spelling of the stated `word` is the holder word, or starts with it
/// if it may have been cut short.
fn spells(word: &[char], holder: &HolderWord) -> bool {
    let target = holder.text.as_bytes();
    // reached[j]: the letters read so far can spell target[..j].
    let mut reached = vec![false; target.len() + 1];
    reached[0] = true;
    for &letter in word {
        if holder.may_be_cut && reached[target.len()] {
            return true;
        }
        let spellings = spellings(letter);
        let mut next = vec![false; target.len() + 1];
        for position in (0..=target.len()).filter(|&position| reached[position]) {
            let rest = &target[position..];
            for spelling in spellings.iter().map(|spelling| spelling.as_bytes()) {
                if rest.starts_with(spelling) {
                    next[position + spelling.len()] = true;
                } else if holder.may_be_cut && spelling.starts_with(rest) {
                    // The target ends inside this letter's spelling.
                    return true;
                }
            }
        }
        if !next.contains(&true) {
            return false;
        }
        reached = next;
    }
    reached[target.len()]
}

const ALPHANUMERIC: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// How an upper-case letter of a stated name may be written in an MRZ.
fn spellings(letter: char) -> Vec<&'static str> {
    match ALPHANUMERIC.find(letter) {
        Some(index) => vec![&ALPHANUMERIC[index..=index]],
        None => transliterations(letter).to_vec(),
    }
}

/// The MRZ forms of a Latin letter with diacritics: Doc 9303 part 3's transliteration,
/// and the bare letter where issuers just drop the mark. Combining marks (decomposed
/// input) are dropped, or give the E of an umlaut or the A of a ring. Other characters
/// have none.
fn transliterations(letter: char) -> &'static [&'static str] {
    match letter {
        'À' | 'Á' | 'Â' | 'Ã' | 'Ā' | 'Ă' | 'Ą' => &["A"],
        'Ä' => &["AE", "A"],
        'Å' => &["AA", "A"],
        'Æ' => &["AE"],
        'Ç' | 'Ć' | 'Ĉ' | 'Ċ' | 'Č' => &["C"],
        'Ð' | 'Ď' | 'Đ' => &["D"],
        'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ĕ' | 'Ė' | 'Ę' | 'Ě' => &["E"],
        'Ĝ' | 'Ğ' | 'Ġ' | 'Ģ' => &["G"],
        'Ĥ' | 'Ħ' => &["H"],
        'Ì' | 'Í' | 'Î' | 'Ï' | 'Ĩ' | 'Ī' | 'Ĭ' | 'Į' | 'İ' => &["I"],
        'Ĳ' => &["IJ"],
        'Ĵ' => &["J"],
        'Ķ' => &["K"],
        'Ĺ' | 'Ļ' | 'Ľ' | 'Ŀ' | 'Ł' => &["L"],
        'Ń' | 'Ņ' | 'Ň' | 'Ŋ' => &["N"],
        'Ñ' => &["N", "NXX"],
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ō' | 'Ŏ' | 'Ő' => &["O"],
        'Ö' | 'Ø' => &["OE", "O"],
        'Œ' => &["OE"],
        'Ŕ' | 'Ŗ' | 'Ř' => &["R"],
        'Ś' | 'Ŝ' | 'Ş' | 'Š' | 'Ș' => &["S"],
        'ẞ' => &["SS"],
        'Ţ' | 'Ť' | 'Ŧ' | 'Ț' => &["T"],
        'Þ' => &["TH"],
        'Ù' | 'Ú' | 'Û' | 'Ũ' | 'Ū' | 'Ŭ' | 'Ů' | 'Ű' | 'Ų' => &["U"],
        'Ü' => &["UE", "UXX", "U"],
        'Ŵ' => &["W"],
        'Ý' | 'Ŷ' | 'Ÿ' => &["Y"],
        'Ź' | 'Ż' | 'Ž' => &["Z"],
        '\u{0308}' => &["", "E"],
        '\u{030A}' => &["", "A"],
        '\u{0300}'..='\u{036F}' => &[""],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Local, Months};

    use super::*;

    const TD3_SPECIMEN: [&str; 2] =
        ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"];
    const TD2_SPECIMEN: [&str; 2] = ["I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6"];
    const TD1_SPECIMEN: [&str; 3] =
        ["I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"];
    /// Doc 9303 part 5's card whose document number has 12 characters.
    const TD1_LONG_NUMBER: [&str; 3] =
        ["I<UTOD23145890<7349<<<<<<<<<<<", "3407127M9507122UTO<<<<<<<<<<<2", "STEVENSON<<PETER<JOHN<<<<<<<<<"];

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    /// The zone with the character at `position` (from 1) of line `line` (from 0) replaced.
    fn changed(lines: &[&str], line: usize, position: usize, to: char) -> String {
        let mut lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        lines[line].replace_range(position - 1..position, &to.to_string());
        lines.join("\n")
    }

    fn failing_checks(text: &str) -> Vec<&'static str> {
        parse(text).unwrap().checks.iter().filter(|check| !check.ok).map(|check| check.field).collect()
    }

    /// Each change (line, position, new character) fails exactly the named checks.
    fn assert_failures(specimen: &[&str], changes: &[(usize, usize, char, &[&str])]) {
        assert!(failing_checks(&specimen.join("\n")).is_empty());
        for &(line, position, to, expected) in changes {
            assert_eq!(
                failing_checks(&changed(specimen, line, position, to)),
                expected,
                "line {line} position {position}"
            );
        }
    }

    /// A passport of the specimen holder with these dates and every check digit right.
    fn passport(birth: &str, expiry: &str) -> Mrz {
        let personal = "ZE184226B<<<<<";
        let lower = format!(
            "L898902C36UTO{birth}{}F{expiry}{}{personal}{}",
            check_digit(birth),
            check_digit(expiry),
            check_digit(personal)
        );
        let composite = check_digit(&format!("{}{}{}", &lower[0..10], &lower[13..20], &lower[21..43]));
        let mrz = parse(&format!("{}\n{lower}{composite}", TD3_SPECIMEN[0])).unwrap();
        assert!(mrz.check_digits_valid());
        mrz
    }

    #[test]
    fn check_digits_of_the_specimens() {
        assert_eq!(check_digit("L898902C3"), '6');
        assert_eq!(check_digit("740812"), '2');
        assert_eq!(check_digit("120415"), '9');
        assert_eq!(check_digit("ZE184226B<<<<<"), '1');
        assert_eq!(check_digit("L898902C3674081221204159ZE184226B<<<<<1"), '0');
        assert_eq!(check_digit("D23145890"), '7');
        assert_eq!(check_digit("D231458907<<<<<<<<<<<<<<<74081221204159<<<<<<<<<<<"), '6');
        assert_eq!(check_digit("D23145890774081221204159<<<<<<<"), '6');
        assert_eq!(check_digit("D23145890734"), '9');
        assert_eq!(check_digit("<<<<<<<<<<<<<<"), '0');
    }

    #[test]
    fn td3_specimen() {
        let mrz = parse(&TD3_SPECIMEN.join("\n")).unwrap();
        assert_eq!(mrz.format, MrzFormat::Td3);
        assert_eq!(mrz.document_code, "P");
        assert_eq!(mrz.issuing_state, "UTO");
        assert_eq!(mrz.surname, "ERIKSSON");
        assert_eq!(mrz.given_names, "ANNA MARIA");
        assert_eq!(mrz.document_number, "L898902C3");
        assert_eq!(mrz.nationality, "UTO");
        assert_eq!(mrz.birth_date, "740812");
        assert_eq!(mrz.sex, 'F');
        assert_eq!(mrz.expiry_date, "120415");
        assert_eq!(mrz.optional_data, "ZE184226B");
        assert_eq!(mrz.lines, TD3_SPECIMEN);
        let fields: Vec<_> = mrz.checks.iter().map(|check| check.field).collect();
        assert_eq!(fields, ["document_number", "birth_date", "expiry_date", "personal_number", "composite"]);
        assert_eq!(mrz.checks[0].data, "L898902C3");
        assert_eq!((mrz.checks[0].expected, mrz.checks[0].found), ('6', '6'));
        assert_eq!(mrz.checks[4].data, "L898902C3674081221204159ZE184226B<<<<<1");
        assert!(mrz.check_digits_valid());
    }

    #[test]
    fn td2_specimen() {
        let mrz = parse(&TD2_SPECIMEN.join("\n")).unwrap();
        assert_eq!(mrz.format, MrzFormat::Td2);
        assert_eq!(mrz.document_code, "I");
        assert_eq!(mrz.issuing_state, "UTO");
        assert_eq!(mrz.surname, "ERIKSSON");
        assert_eq!(mrz.given_names, "ANNA MARIA");
        assert_eq!(mrz.document_number, "D23145890");
        assert_eq!(mrz.nationality, "UTO");
        assert_eq!(mrz.birth_date, "740812");
        assert_eq!(mrz.sex, 'F');
        assert_eq!(mrz.expiry_date, "120415");
        assert_eq!(mrz.optional_data, "");
        let fields: Vec<_> = mrz.checks.iter().map(|check| check.field).collect();
        assert_eq!(fields, ["document_number", "birth_date", "expiry_date", "composite"]);
        assert!(mrz.check_digits_valid());
    }

    #[test]
    fn td1_specimen() {
        let mrz = parse(&TD1_SPECIMEN.join("\n")).unwrap();
        assert_eq!(mrz.format, MrzFormat::Td1);
        assert_eq!(mrz.document_code, "I");
        assert_eq!(mrz.issuing_state, "UTO");
        assert_eq!(mrz.surname, "ERIKSSON");
        assert_eq!(mrz.given_names, "ANNA MARIA");
        assert_eq!(mrz.document_number, "D23145890");
        assert_eq!(mrz.nationality, "UTO");
        assert_eq!(mrz.birth_date, "740812");
        assert_eq!(mrz.sex, 'F');
        assert_eq!(mrz.expiry_date, "120415");
        assert_eq!(mrz.optional_data, "");
        let fields: Vec<_> = mrz.checks.iter().map(|check| check.field).collect();
        assert_eq!(fields, ["document_number", "birth_date", "expiry_date", "composite"]);
        assert_eq!(mrz.checks[3].data, "D231458907<<<<<<<<<<<<<<<74081221204159<<<<<<<<<<<");
        assert!(mrz.check_digits_valid());
    }

    #[test]
    fn td1_long_document_number_continues_in_the_optional_data() {
        let mrz = parse(&TD1_LONG_NUMBER.join("\n")).unwrap();
        assert_eq!(mrz.document_number, "D23145890734");
        assert_eq!(mrz.checks[0].data, "D23145890734");
        assert_eq!(mrz.checks[0].found, '9');
        assert_eq!(mrz.optional_data, "");
        assert_eq!((mrz.surname.as_str(), mrz.given_names.as_str()), ("STEVENSON", "PETER JOHN"));
        assert!(mrz.check_digits_valid());
        assert_failures(
            &TD1_LONG_NUMBER,
            &[(0, 17, '4', &["document_number", "composite"]), (0, 19, '8', &["document_number", "composite"])],
        );
    }

    #[test]
    fn td1_optional_data_fields_are_joined() {
        let text = changed(&TD1_SPECIMEN, 0, 16, 'A');
        let text = changed(&text.lines().collect::<Vec<_>>(), 1, 19, 'B');
        assert_eq!(parse(&text).unwrap().optional_data, "A B");
    }

    #[test]
    fn td3_changes_fail_their_checks() {
        assert_failures(
            &TD3_SPECIMEN,
            &[
                (1, 1, 'M', &["document_number", "composite"]),
                (1, 10, '7', &["document_number", "composite"]),
                (1, 14, '8', &["birth_date", "composite"]),
                (1, 20, '3', &["birth_date", "composite"]),
                (1, 22, '2', &["expiry_date", "composite"]),
                (1, 28, '8', &["expiry_date", "composite"]),
                (1, 29, 'Y', &["personal_number", "composite"]),
                (1, 43, '2', &["personal_number", "composite"]),
                (1, 44, '1', &["composite"]),
                (1, 11, 'V', &[]),
                (1, 21, 'M', &[]),
                (0, 6, 'F', &[]),
            ],
        );
    }

    #[test]
    fn td2_changes_fail_their_checks() {
        assert_failures(
            &TD2_SPECIMEN,
            &[
                (1, 2, '3', &["document_number", "composite"]),
                (1, 10, '8', &["document_number", "composite"]),
                (1, 14, '8', &["birth_date", "composite"]),
                (1, 20, '3', &["birth_date", "composite"]),
                (1, 22, '2', &["expiry_date", "composite"]),
                (1, 28, '8', &["expiry_date", "composite"]),
                (1, 29, '1', &["composite"]),
                (1, 36, '7', &["composite"]),
                (1, 11, 'V', &[]),
            ],
        );
    }

    #[test]
    fn td1_changes_fail_their_checks() {
        assert_failures(
            &TD1_SPECIMEN,
            &[
                (0, 6, 'E', &["document_number", "composite"]),
                (0, 15, '8', &["document_number", "composite"]),
                (0, 16, '1', &["composite"]),
                (1, 1, '8', &["birth_date", "composite"]),
                (1, 7, '3', &["birth_date", "composite"]),
                (1, 9, '2', &["expiry_date", "composite"]),
                (1, 15, '8', &["expiry_date", "composite"]),
                (1, 19, '1', &["composite"]),
                (1, 30, '7', &["composite"]),
                (1, 16, 'V', &[]),
                (2, 1, 'F', &[]),
            ],
        );
    }

    #[test]
    fn an_empty_personal_number_may_have_a_filler_check_digit() {
        let lower = "L898902C36UTO7408122F1204159<<<<<<<<<<<<<<";
        let composite = check_digit(&format!("{}{}{}<", &lower[0..10], &lower[13..20], &lower[21..42]));
        let mrz = parse(&format!("{}\n{lower}<{composite}", TD3_SPECIMEN[0])).unwrap();
        assert!(mrz.check_digits_valid());
        assert_eq!(mrz.optional_data, "");
        assert_eq!(failing_checks(&changed(&TD3_SPECIMEN, 1, 43, '<')), ["personal_number", "composite"]);
    }

    #[test]
    fn input_is_normalised() {
        let messy = format!(
            "\r\n  {}  \r\n\r\n{} {}\r",
            TD3_SPECIMEN[0].to_lowercase(),
            &TD3_SPECIMEN[1][..20],
            &TD3_SPECIMEN[1][20..]
        );
        let mrz = parse(&messy).unwrap();
        assert_eq!(mrz.lines, TD3_SPECIMEN);
        assert!(mrz.check_digits_valid());
        assert_eq!(parse(&TD1_SPECIMEN.join("\r")).unwrap().format, MrzFormat::Td1);
    }

    #[test]
    fn wrong_shapes_are_errors() {
        let shape = |text: &str| match parse(text) {
            Err(MrzError::Shape { lengths }) => lengths,
            other => panic!("{other:?}"),
        };
        assert_eq!(shape(""), Vec::<usize>::new());
        assert_eq!(shape(TD3_SPECIMEN[0]), [44]);
        assert_eq!(shape(&TD3_SPECIMEN.concat()), [88]);
        assert_eq!(shape(&format!("{}\n{}", TD3_SPECIMEN[0], &TD3_SPECIMEN[1][..43])), [44, 43]);
        assert_eq!(shape(&TD1_SPECIMEN[..2].join("\n")), [30, 30]);
        assert_eq!(shape(&format!("{}\n{}", TD1_SPECIMEN.join("\n"), TD1_SPECIMEN[2])), [30, 30, 30, 30]);
        assert_eq!(shape(&format!("{}\n{}", TD2_SPECIMEN[0], TD3_SPECIMEN[1])), [36, 44]);
    }

    #[test]
    fn bad_characters_are_errors() {
        assert_eq!(
            parse(&changed(&TD3_SPECIMEN, 0, 2, '«')),
            Err(MrzError::BadCharacter { line: 1, position: 2, found: '«' })
        );
        assert_eq!(
            parse(&changed(&TD1_SPECIMEN, 2, 9, '-')),
            Err(MrzError::BadCharacter { line: 3, position: 9, found: '-' })
        );
        assert_eq!(parse(&changed(&TD3_SPECIMEN, 1, 21, 'Q')), Err(MrzError::Sex('Q')));
        assert_eq!(parse(&changed(&TD3_SPECIMEN, 1, 21, 'X')).unwrap().sex, 'X');
    }

    #[test]
    fn expiry() {
        let mrz = parse(&TD3_SPECIMEN.join("\n")).unwrap();
        assert_eq!(mrz.expiry(), Some(date(2012, 4, 15)));
        assert!(!mrz.expired_on(date(2012, 4, 14)));
        assert!(!mrz.expired_on(date(2012, 4, 15)));
        assert!(mrz.expired_on(date(2012, 4, 16)));
        assert!(mrz.expired_on(date(2026, 1, 1)));
        let unreadable = passport("740812", "121315");
        assert_eq!(unreadable.expiry(), None);
        assert!(unreadable.expired_on(date(2000, 1, 1)));
    }

    #[test]
    fn a_minor_born_17_years_ago_is_17() {
        let today = Local::now().date_naive();
        let birth = today.checked_sub_months(Months::new(17 * 12)).unwrap();
        let mrz = passport(&birth.format("%y%m%d").to_string(), "391231");
        assert_eq!(mrz.birth_date_on(today), Some(birth));
        assert_eq!(mrz.age_on(today), Some(17));
    }

    #[test]
    fn age_changes_on_the_birthday() {
        let mrz = passport("080615", "301231");
        assert_eq!(mrz.age_on(date(2026, 6, 14)), Some(17));
        assert_eq!(mrz.age_on(date(2026, 6, 15)), Some(18));
        let leapling = passport("080229", "301231");
        assert_eq!(leapling.age_on(date(2026, 2, 28)), Some(17));
        assert_eq!(leapling.age_on(date(2026, 3, 1)), Some(18));
        assert_eq!(passport("<<<<<<", "301231").age_on(date(2026, 1, 1)), None);
    }

    #[test]
    fn birth_century_is_the_latest_not_in_the_future() {
        let today = date(2026, 6, 15);
        assert_eq!(passport("740812", "301231").birth_date_on(today), Some(date(1974, 8, 12)));
        assert_eq!(passport("100101", "301231").birth_date_on(today), Some(date(2010, 1, 1)));
        assert_eq!(passport("260615", "301231").birth_date_on(today), Some(date(2026, 6, 15)));
        assert_eq!(passport("260616", "301231").birth_date_on(today), Some(date(1926, 6, 16)));
        assert_eq!(passport("260616", "301231").age_on(today), Some(99));
        assert_eq!(passport("000229", "301231").birth_date_on(today), Some(date(2000, 2, 29)));
        assert_eq!(passport("000229", "301231").birth_date_on(date(2100, 3, 1)), Some(date(2000, 2, 29)));
    }

    #[test]
    fn names_exact_and_in_any_case() {
        assert!(names_match("Anna Maria Eriksson", "ERIKSSON", "ANNA MARIA"));
        assert!(names_match("ERIKSSON ANNA MARIA", "ERIKSSON", "ANNA MARIA"));
        assert!(names_match("anna maria eriksson", "ERIKSSON", "ANNA MARIA"));
        let mrz = parse(&TD3_SPECIMEN.join("\n")).unwrap();
        assert!(mrz.name_matches("Anna Maria Eriksson"));
        assert!(!mrz.name_matches("Anna Maria Eriksen"));
    }

    #[test]
    fn names_with_diacritics_both_ways() {
        assert!(names_match("Anna Müller", "MULLER", "ANNA"));
        assert!(names_match("Anna Müller", "MUELLER", "ANNA"));
        assert!(names_match("Anna Mu\u{308}ller", "MUELLER", "ANNA"));
        assert!(!names_match("Anna Muller", "MUELLER", "ANNA"));
        assert!(names_match("Jürgen Groß", "GROSS", "JURGEN"));
        assert!(names_match("Søren Kierkegaard", "KIERKEGAARD", "SOEREN"));
        assert!(names_match("Søren Kierkegaard", "KIERKEGAARD", "SOREN"));
        assert!(names_match("Ægir Ångström", "AANGSTROEM", "AEGIR"));
        assert!(names_match("Ægir Ångström", "ANGSTROM", "AEGIR"));
        assert!(names_match("Þóra Dvořák", "DVORAK", "THORA"));
        assert!(names_match("José Núñez", "NUNEZ", "JOSE"));
    }

    #[test]
    fn names_in_another_order() {
        assert!(names_match("Eriksson Anna Maria", "ERIKSSON", "ANNA MARIA"));
        assert!(names_match("Maria Eriksson Anna", "ERIKSSON", "ANNA MARIA"));
        assert!(names_match("Müller Anna", "MUELLER", "ANNA"));
    }

    #[test]
    fn hyphens_and_apostrophes() {
        assert!(names_match("Anna-Maria Müller", "MUELLER", "ANNA MARIA"));
        assert!(names_match("Gabriel García-Márquez", "GARCIA MARQUEZ", "GABRIEL"));
        assert!(!names_match("Gabriel García", "GARCIA MARQUEZ", "GABRIEL"));
        assert!(names_match("Seán O'Brien", "OBRIEN", "SEAN"));
        assert!(names_match("Seán O’Brien", "O BRIEN", "SEAN"));
    }

    #[test]
    fn extra_missing_or_other_words() {
        assert!(!names_match("Anna Maria Josefine Eriksson", "ERIKSSON", "ANNA MARIA"));
        assert!(!names_match("Anna Anna Eriksson", "ERIKSSON", "ANNA MARIA"));
        assert!(!names_match("Anna Maria", "ERIKSSON", "ANNA MARIA"));
        assert!(!names_match("John Smith", "ERIKSSON", "ANNA MARIA"));
        assert!(!names_match("", "ERIKSSON", "ANNA MARIA"));
        assert!(!names_match(" - ", "ERIKSSON", "ANNA MARIA"));
        // A given name may be left out; the surname may not.
        assert!(names_match("Anna Eriksson", "ERIKSSON", "ANNA MARIA"));
    }

    #[test]
    fn truncated_names() {
        let name = "ERIKSSON<<ANNA<MARIA<ELISABETH<KRISTINA";
        assert_eq!(name.len(), 39);
        let mrz = parse(&format!("P<UTO{name}\n{}", TD3_SPECIMEN[1])).unwrap();
        assert!(mrz.name_matches("Anna Maria Elisabeth Kristinabella Eriksson"));
        assert!(mrz.name_matches("Anna Maria Elisabeth Kristina Eriksson"));
        assert!(!mrz.name_matches("Anna Maria Elisabeth Kristin Eriksson"));
        assert!(!mrz.name_matches("Anna Mariana Elisabeth Kristina Eriksson"));
        assert!(names_match("Anna Maria Elisabeth Kristinabella Eriksson", &mrz.surname, &mrz.given_names));
        // A name with room to spare was not cut.
        assert!(!names_match("Anna Kristinabella Eriksson", "ERIKSSON", "ANNA KRISTINA"));
        // The cut may fall inside a transliterated letter: Þ is TH.
        let given_names = "WOLFGANG AMADEUS THEOPHILUS T";
        assert_eq!(name_field_length("ERIKSSON", given_names), 39);
        assert!(names_match("Wolfgang Amadeus Theophilus Þór Eriksson", "ERIKSSON", given_names));
        assert!(!names_match("Wolfgang Amadeus Theophilus Sven Eriksson", "ERIKSSON", given_names));
    }
}
