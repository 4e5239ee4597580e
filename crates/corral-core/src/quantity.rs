//! CPU, memory and disk sizes in the Kubernetes quantity grammar, held exactly.
//!
//! The grammar is `<number><suffix>` where the number is decimal digits with
//! an optional fraction and the suffix is a binary SI unit (`Ki` … `Ei`), a
//! decimal SI unit (`n u m "" k M G T P E`) or a decimal exponent (`e3`).
//! Values are kept as integers of the smallest unit the product uses
//! (millicores, bytes); nothing goes through floating point.
//!
//! Deliberate choices (documented in the README's CLI reference):
//! - zero and negative values are refused: a CT with no CPU, memory or disk
//!   cannot run;
//! - a value that is not a whole number of the base unit (`0.0001` CPUs,
//!   `1.5` bytes) is refused rather than rounded;
//! - memory and disk need a unit: a bare `512` would mean 512 bytes, which is
//!   never what a person typing `--mem 512` wants, so it is refused with a
//!   suggestion (`512Mi`);
//! - memory below 6Mi (the least a container runtime will start a process
//!   in) is refused, as is anything that overflows 64 bits.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a quantity was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field} {value:?}: {problem}")]
pub struct QuantityError {
    /// Which input was bad: "--cpu", "--mem" or "--disk".
    pub field: &'static str,
    /// The value as the user typed it.
    pub value: String,
    /// What is wrong with it and what to write instead.
    pub problem: String,
}

/// A parsed quantity before it is scaled to a base unit: `digits * bin * 10^pow10`.
struct Raw {
    digits: u128,
    bin: u128,
    pow10: i32,
    has_suffix: bool,
}

fn parse_raw(s: &str) -> Result<Raw, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if s.starts_with('-') {
        return Err("it is negative".into());
    }
    let body = s.strip_prefix('+').unwrap_or(s);
    let num_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (num, suffix) = body.split_at(num_end);
    if num.is_empty() || num == "." {
        return Err("it does not start with a number".into());
    }
    let (int_part, frac_part) = match num.split_once('.') {
        Some((i, f)) => {
            if f.contains('.') {
                return Err("it has more than one '.'".into());
            }
            (i, f)
        }
        None => (num, ""),
    };
    let mut digits: u128 = 0;
    for c in int_part.chars().chain(frac_part.chars()) {
        let d = u128::from(c.to_digit(10).unwrap_or(0));
        digits = digits
            .checked_mul(10)
            .and_then(|v| v.checked_add(d))
            .ok_or("it is too large")?;
    }
    let frac_len = i32::try_from(frac_part.len()).map_err(|_| "it is too long")?;
    let (bin, pow10): (u128, i32) = match suffix {
        "" => (1, 0),
        "Ki" => (1 << 10, 0),
        "Mi" => (1 << 20, 0),
        "Gi" => (1 << 30, 0),
        "Ti" => (1 << 40, 0),
        "Pi" => (1 << 50, 0),
        "Ei" => (1 << 60, 0),
        "n" => (1, -9),
        "u" => (1, -6),
        "m" => (1, -3),
        "k" => (1, 3),
        "M" => (1, 6),
        "G" => (1, 9),
        "T" => (1, 12),
        "P" => (1, 15),
        "E" => (1, 18),
        other => {
            let exp = other
                .strip_prefix(['e', 'E'])
                .and_then(|e| e.parse::<i32>().ok())
                .filter(|e| e.abs() <= 40);
            match exp {
                Some(e) => (1, e),
                None => {
                    return Err(format!(
                        "unknown unit {other:?} (use Ki, Mi, Gi, Ti, Pi, Ei, or k, M, G, T, P, E, or m for milli)"
                    ));
                }
            }
        }
    };
    Ok(Raw {
        digits,
        bin,
        pow10: pow10 - frac_len,
        has_suffix: !suffix.is_empty(),
    })
}

/// Scales `raw` to an integer count of a base unit worth `1/scale` of the quantity's unit.
fn scale(raw: &Raw, scale: u128) -> Result<u64, String> {
    let too_big = || "it is too large".to_string();
    let mut v = raw
        .digits
        .checked_mul(raw.bin)
        .and_then(|v| v.checked_mul(scale))
        .ok_or_else(too_big)?;
    if raw.pow10 >= 0 {
        for _ in 0..raw.pow10 {
            v = v.checked_mul(10).ok_or_else(too_big)?;
        }
    } else {
        for _ in 0..(-raw.pow10) {
            if v % 10 != 0 {
                return Err("it has more precision than the base unit allows".into());
            }
            v /= 10;
        }
    }
    u64::try_from(v).map_err(|_| too_big())
}

fn err(field: &'static str, value: &str, problem: impl Into<String>) -> QuantityError {
    QuantityError {
        field,
        value: value.to_owned(),
        problem: problem.into(),
    }
}

/// CPU, in millicores. Parsed from "1", "500m", "2.5".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cpu(u64);

impl Cpu {
    /// The default CPU of a CT: one core.
    pub const DEFAULT: Cpu = Cpu(1000);

    /// Parses a CPU quantity as given to `--cpu`.
    pub fn parse(s: &str) -> Result<Self, QuantityError> {
        const F: &str = "--cpu";
        let raw = parse_raw(s).map_err(|p| err(F, s, p))?;
        let m = scale(&raw, 1000).map_err(|p| {
            if p.contains("precision") {
                err(F, s, "it is finer than 1m (one thousandth of a CPU)")
            } else {
                err(F, s, p)
            }
        })?;
        if m == 0 {
            return Err(err(
                F,
                s,
                "it is zero; give at least 1m, for example 500m or 1",
            ));
        }
        Ok(Cpu(m))
    }

    /// The value in millicores.
    pub fn millis(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(1000) {
            write!(f, "{}", self.0 / 1000)
        } else {
            write!(f, "{}m", self.0)
        }
    }
}

impl TryFrom<String> for Cpu {
    type Error = QuantityError;
    fn try_from(s: String) -> Result<Self, QuantityError> {
        Cpu::parse(&s)
    }
}

impl From<Cpu> for String {
    fn from(c: Cpu) -> String {
        c.to_string()
    }
}

/// A size in bytes (memory or disk). Parsed from "256Mi", "1G", "1.5Gi".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Bytes(u64);

/// Least memory a CT may ask for: 6Mi, below which runtimes refuse to start.
pub const MIN_MEMORY: u64 = 6 << 20;

impl Bytes {
    /// Default memory of a CT: 512Mi.
    pub const DEFAULT_MEMORY: Bytes = Bytes(512 << 20);
    /// Default disk of a CT: 5Gi.
    pub const DEFAULT_DISK: Bytes = Bytes(5 << 30);

    fn parse_field(field: &'static str, s: &str) -> Result<Self, QuantityError> {
        let raw = parse_raw(s).map_err(|p| err(field, s, p))?;
        if !raw.has_suffix {
            return Err(err(
                field,
                s,
                format!("it has no unit and would mean {s} bytes; write {s}Mi or {s}Gi"),
            ));
        }
        let b = scale(&raw, 1).map_err(|p| {
            if p.contains("precision") {
                err(field, s, "it is not a whole number of bytes")
            } else {
                err(field, s, p)
            }
        })?;
        if b == 0 {
            return Err(err(field, s, "it is zero"));
        }
        Ok(Bytes(b))
    }

    /// Parses a memory size as given to `--mem`.
    pub fn parse_memory(s: &str) -> Result<Self, QuantityError> {
        let b = Self::parse_field("--mem", s)?;
        if b.0 < MIN_MEMORY {
            return Err(err(
                "--mem",
                s,
                "it is below 6Mi, the least a container can start in",
            ));
        }
        Ok(b)
    }

    /// Parses a disk size as given to `--disk`.
    pub fn parse_disk(s: &str) -> Result<Self, QuantityError> {
        Self::parse_field("--disk", s)
    }

    /// The value in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// Parses a canonical value written by [`Display`](fmt::Display) (used when reading records back).
    pub fn parse_canonical(s: &str) -> Result<Self, QuantityError> {
        let raw = parse_raw(s).map_err(|p| err("size", s, p))?;
        scale(&raw, 1).map(Bytes).map_err(|p| err("size", s, p))
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const BIN: [(&str, u32); 6] = [
            ("Ei", 60),
            ("Pi", 50),
            ("Ti", 40),
            ("Gi", 30),
            ("Mi", 20),
            ("Ki", 10),
        ];
        const DEC: [(&str, u32); 6] = [
            ("E", 18),
            ("P", 15),
            ("T", 12),
            ("G", 9),
            ("M", 6),
            ("k", 3),
        ];
        for (unit, shift) in BIN {
            let m = 1u64 << shift;
            if self.0.is_multiple_of(m) {
                return write!(f, "{}{unit}", self.0 / m);
            }
        }
        for (unit, exp) in DEC {
            let m = 10u64.pow(exp);
            if self.0.is_multiple_of(m) {
                return write!(f, "{}{unit}", self.0 / m);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl TryFrom<String> for Bytes {
    type Error = QuantityError;
    fn try_from(s: String) -> Result<Self, QuantityError> {
        Bytes::parse_canonical(&s)
    }
}

impl From<Bytes> for String {
    fn from(b: Bytes) -> String {
        b.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_parses_exactly() {
        let cases = [
            ("1", 1000, "1"),
            ("500m", 500, "500m"),
            ("2.5", 2500, "2500m"),
            ("0.1", 100, "100m"),
            ("1000m", 1000, "1"),
            ("+2", 2000, "2"),
            ("1e3", 1_000_000, "1000"),
            ("0.001", 1, "1m"),
            ("1k", 1_000_000, "1000"),
        ];
        for (input, millis, shown) in cases {
            let c = Cpu::parse(input).unwrap();
            assert_eq!(c.millis(), millis, "{input}");
            assert_eq!(c.to_string(), shown, "{input}");
        }
    }

    #[test]
    fn memory_and_disk_parse_exactly() {
        let cases = [
            ("256Mi", 256 << 20, "256Mi"),
            ("1G", 1_000_000_000, "1G"),
            ("5Gi", 5 << 30, "5Gi"),
            ("1.5Gi", 3 << 29, "1536Mi"),
            ("0.5Gi", 512 << 20, "512Mi"),
            ("1Ti", 1 << 40, "1Ti"),
            ("128974848000m", 128_974_848, "123Mi"),
            ("1e9", 1_000_000_000, "1G"),
            ("7M", 7_000_000, "7M"),
        ];
        for (input, bytes, shown) in cases {
            let b = Bytes::parse_memory(input).unwrap();
            assert_eq!(b.bytes(), bytes, "{input}");
            assert_eq!(b.to_string(), shown, "{input}");
            assert_eq!(Bytes::parse_canonical(shown).unwrap(), b);
        }
    }

    #[test]
    fn bad_cpu_is_refused_naming_the_flag() {
        let cases = [
            ("", "it is empty"),
            ("0", "it is zero"),
            ("0m", "it is zero"),
            ("-1", "it is negative"),
            ("abc", "it does not start with a number"),
            ("1.2.3", "it has more than one '.'"),
            ("1x", "unknown unit"),
            ("0.0001", "finer than 1m"),
            ("1.5m", "finer than 1m"),
            ("99999999999999999999999999999999999999999", "too large"),
            ("1Ei", "too large"),
            (".", "does not start with a number"),
            ("m", "does not start with a number"),
        ];
        for (input, problem) in cases {
            let e = Cpu::parse(input).unwrap_err();
            assert_eq!(e.field, "--cpu");
            assert!(e.problem.contains(problem), "{input}: {e}");
            assert!(e.to_string().starts_with("invalid --cpu "), "{e}");
        }
    }

    #[test]
    fn bad_memory_and_disk_are_refused_naming_the_flag() {
        let mem = [
            ("512", "no unit"),
            ("0Mi", "it is zero"),
            ("-256Mi", "negative"),
            ("1Mi", "below 6Mi"),
            ("256MB", "unknown unit"),
            ("256mi", "unknown unit"),
            ("1.5", "no unit"),
            ("1.1Ki", "not a whole number of bytes"),
            ("100Ei", "too large"),
            ("Gi", "does not start with a number"),
            ("1 Gi", "unknown unit"),
        ];
        for (input, problem) in mem {
            let e = Bytes::parse_memory(input).unwrap_err();
            assert_eq!(e.field, "--mem");
            assert!(e.problem.contains(problem), "{input}: {e}");
        }
        let disk = [
            ("5", "no unit"),
            ("0Gi", "zero"),
            ("5GB", "unknown unit"),
            ("x", "number"),
        ];
        for (input, problem) in disk {
            let e = Bytes::parse_disk(input).unwrap_err();
            assert_eq!(e.field, "--disk");
            assert!(e.problem.contains(problem), "{input}: {e}");
        }
    }

    #[test]
    fn unitless_memory_suggests_a_unit() {
        insta::assert_snapshot!(Bytes::parse_memory("512").unwrap_err().to_string(), @r#"invalid --mem "512": it has no unit and would mean 512 bytes; write 512Mi or 512Gi"#);
    }

    proptest::proptest! {
        #[test]
        fn display_round_trips(b in 1u64..u64::MAX / 2) {
            let shown = Bytes(b).to_string();
            proptest::prop_assert_eq!(Bytes::parse_canonical(&shown).unwrap(), Bytes(b));
        }

        #[test]
        fn cpu_display_round_trips(m in 1u64..1_000_000_000) {
            let shown = Cpu(m).to_string();
            proptest::prop_assert_eq!(Cpu::parse(&shown).unwrap(), Cpu(m));
        }
    }
}
