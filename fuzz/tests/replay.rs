//! The fuzz targets on stable Rust: every committed corpus input, then a fixed number of
//! deterministic mutations of them, through the same bodies the libFuzzer binaries run.
//! Not coverage-guided, so it finds less than `scripts/fuzz`, but it runs in every
//! `cargo test` and keeps the corpus's regressions fixed.
//!
//! `MOBILEID_FUZZ_ITERATIONS` sets the mutations per target (default 2,000).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use mobileid_fuzz::{Target, TARGETS};

const DEFAULT_ITERATIONS: usize = 2_000;
/// libFuzzer's default `-max_len` is about this for our corpus; longer inputs only slow
/// the replay down without reaching new code.
const MAX_LEN: usize = 16 * 1024;

#[test]
fn corpus_and_mutations_hold_every_property() {
    let iterations = std::env::var("MOBILEID_FUZZ_ITERATIONS")
        .ok()
        .map(|n| n.parse().expect("MOBILEID_FUZZ_ITERATIONS is a number"))
        .unwrap_or(DEFAULT_ITERATIONS);
    let corpus_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (name, target) in TARGETS {
        let corpus = read_corpus(&corpus_root.join(name));
        assert!(!corpus.is_empty(), "fuzz/corpus/{name} has no inputs");
        for input in &corpus {
            run(name, *target, input);
        }
        // Seeded by the target's name, so each target sees the same mutations every run.
        let mut rng = XorShift::new(name.bytes().fold(0x9e37_79b9_7f4a_7c15, |h, b| (h ^ u64::from(b)).rotate_left(7)));
        for _ in 0..iterations {
            let input = mutate(&corpus, &mut rng);
            run(name, *target, &input);
        }
    }
}

fn read_corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    // Directory order differs between file systems; the mutations must not.
    paths.sort();
    paths.iter().map(|path| std::fs::read(path).expect("corpus file")).collect()
}

/// Runs one input, and on a failure keeps it where `cargo fuzz run` can replay it.
fn run(name: &str, target: Target, input: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| target(input))).is_err() {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-replay");
        std::fs::create_dir_all(&dir).expect("artifact folder");
        let path = dir.join(format!("{name}-crash"));
        std::fs::write(&path, input).expect("artifact");
        panic!(
            "fuzz target {name} failed on an input saved as {}; reproduce with \
             `RUSTC_BOOTSTRAP=1 cargo fuzz run --features libfuzzer -s none {name} {}`",
            path.display(),
            path.display()
        );
    }
}

/// One to four stacked edits of a corpus input, of the kinds libFuzzer starts with.
fn mutate(corpus: &[Vec<u8>], rng: &mut XorShift) -> Vec<u8> {
    let mut data = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        match rng.below(7) {
            0 if len > 0 => {
                let at = rng.below(len);
                data[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = rng.below(len);
                data[at] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let at = rng.below(len + 1);
                data.insert(at, rng.next() as u8);
            }
            3 if len > 0 => {
                let from = rng.below(len);
                let to = from + 1 + rng.below((len - from).min(64));
                data.drain(from..to);
            }
            4 if len > 0 => {
                let from = rng.below(len);
                let to = from + 1 + rng.below((len - from).min(256));
                let copy = data[from..to].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, copy);
            }
            5 => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let to = from + 1 + rng.below(other.len() - from);
                    let at = rng.below(len + 1);
                    data.splice(at..at, other[from..to].iter().copied());
                }
            }
            _ if len > 0 => data.truncate(rng.below(len)),
            _ => data.push(rng.next() as u8),
        }
        data.truncate(MAX_LEN);
    }
    data
}

/// Bytes that sit on the parsers' decision points: DER tags and length forms, XML and
/// JSON punctuation, header separators, digits and the MSISDN's `+`.
const INTERESTING: &[u8] =
    b"\x00\x01\x02\x04\x05\x06\x30\x31\x7f\x80\x81\x82\x84\xa0\xa1\xff<>/\"'=&;:,{}[]\\+0129 \n\r\t";

/// xorshift64*: tiny, and the same sequence on every platform and toolchain.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
