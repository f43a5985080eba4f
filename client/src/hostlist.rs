//! Machine names as people read them: hostlist order (`node2` before `node10`) and
//! compression of a set of names into hostranges (`node[1-2,4]`), as pdsh's `dshbak -c` and
//! FreeIPMI's `ipmipower -C` print them. Pure: no I/O.
//!
//! Written here rather than taken from a crate: `hostlist-parser` (the server's) and
//! `hostlist` only expand; `hostlist_iter` (0.1, one release) also collapses, but brings a
//! pest grammar to build and trust for what is a page of code here. The rules are the
//! common ones of pdsh and Slurm:
//! - a name's number is its last run of digits; what comes before is its prefix, what comes
//!   after its suffix (`rack4-n12a` is `rack4-n` 12 `a`); names differing only in that number
//!   share a bracket, in numeric order;
//! - zero-padding is kept: `node01..node10` is `node[01-10]`; a padded number (`07`) and an
//!   unpadded one (`8`) never share a range, since `node[07-8]` would read back otherwise;
//! - a name holding `[`, `]` or `,` (a pattern reported as matching nothing) is left alone,
//!   so the result reads back as the same names.

use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Hostlist (natural) order: runs of digits compare by value, everything else as text;
/// equal values with different padding (`n01`, `n1`) fall back to plain text order, so the
/// order is total and stable.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a, b);
    loop {
        match (x.is_empty(), y.is_empty()) {
            (true, true) => return a.cmp(b),
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let (xd, yd) = (starts_digit(x), starts_digit(y));
        let (xs, xr) = split_run(x, xd);
        let (ys, yr) = split_run(y, yd);
        let ord = match (xd, yd) {
            (true, true) => cmp_digits(xs, ys),
            // A number sorts before text at the same place: `node1` < `nodea`.
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => xs.cmp(ys),
        };
        if ord != Ordering::Equal {
            return ord;
        }
        (x, y) = (xr, yr);
    }
}

fn starts_digit(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_digit())
}

/// The leading run of digits (or of non-digits) of `s`, and the rest.
fn split_run(s: &str, digits: bool) -> (&str, &str) {
    let end = s
        .find(|c: char| c.is_ascii_digit() != digits)
        .unwrap_or(s.len());
    s.split_at(end)
}

/// Compares digit strings by value without parsing (any length).
fn cmp_digits(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// `names` sorted in hostlist order, without duplicates.
pub fn sorted<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = names.into_iter().collect();
    v.sort_by(|a, b| natural_cmp(a, b));
    v.dedup();
    v
}

/// A name split around its last run of digits.
struct Numbered<'a> {
    prefix: &'a str,
    digits: &'a str,
    suffix: &'a str,
}

fn numbered(name: &str) -> Option<Numbered<'_>> {
    if name.contains(['[', ']', ',']) {
        return None;
    }
    let end = name.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = name[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    // Numbers too long for u128 are names like any other.
    if end - start > 30 {
        return None;
    }
    Some(Numbered {
        prefix: &name[..start],
        digits: &name[start..end],
        suffix: &name[end..],
    })
}

/// The padding a number is written with: its width when it has a leading zero, else 0.
fn padding(digits: &str) -> usize {
    if digits.len() > 1 && digits.starts_with('0') {
        digits.len()
    } else {
        0
    }
}

/// One bracket's ranges: `lo-hi` pairs with their padding.
struct Range {
    lo: u128,
    hi: u128,
    width: usize,
}

impl Range {
    /// Whether `digits` (worth `n`) continues this range.
    fn takes(&self, n: u128, digits: &str) -> bool {
        let fits = match self.width {
            0 => padding(digits) == 0,
            w => digits.len() == w,
        };
        fits && self.hi.checked_add(1) == Some(n)
    }

    fn text(&self) -> String {
        let w = self.width;
        if self.lo == self.hi {
            format!("{:0w$}", self.lo)
        } else {
            format!("{:0w$}-{:0w$}", self.lo, self.hi)
        }
    }
}

/// `names` as a hostlist: `node[1-2,4],gpu7,login`. Groups (one per prefix and suffix, plus
/// each name without a number) come in the hostlist order of their first name; a group of
/// one name is that name, without brackets. Duplicates count once.
pub fn compress<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names = sorted(names);
    // (prefix, suffix) -> numbers in hostlist order, and the order groups first appear in.
    let mut groups: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    let mut order: Vec<Result<(&str, &str), &str>> = Vec::new();
    for name in &names {
        match numbered(name) {
            Some(n) => {
                let key = (n.prefix, n.suffix);
                let digits = groups.entry(key).or_default();
                if digits.is_empty() {
                    order.push(Ok(key));
                }
                digits.push(n.digits);
            }
            None => order.push(Err(name)),
        }
    }
    let mut parts = Vec::with_capacity(order.len());
    for entry in order {
        let (prefix, suffix) = match entry {
            Ok(key) => key,
            Err(name) => {
                parts.push(name.to_owned());
                continue;
            }
        };
        let mut numbers: Vec<(u128, &str)> = groups
            .get(&(prefix, suffix))
            .map(|d| {
                d.iter()
                    .filter_map(|s| s.parse::<u128>().ok().map(|n| (n, *s)))
                    .collect()
            })
            .unwrap_or_default();
        numbers.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.len().cmp(&a.1.len())));
        if let [(_, digits)] = numbers.as_slice() {
            parts.push(format!("{prefix}{digits}{suffix}"));
            continue;
        }
        let mut ranges: Vec<Range> = Vec::new();
        for (n, digits) in numbers {
            match ranges.last_mut() {
                Some(r) if r.takes(n, digits) => r.hi = n,
                _ => ranges.push(Range {
                    lo: n,
                    hi: n,
                    width: padding(digits),
                }),
            }
        }
        let inner: Vec<String> = ranges.iter().map(Range::text).collect();
        parts.push(format!("{prefix}[{}]{suffix}", inner.join(",")));
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let names = [
            "node10",
            "node2",
            "gpu1",
            "node1",
            "node02",
            "rack2-n1",
            "rack10-n1",
            "login",
            "node1a",
            "node",
            "node01",
        ];
        assert_eq!(
            sorted(names),
            [
                "gpu1",
                "login",
                "node",
                "node01",
                "node1",
                "node1a",
                "node02",
                "node2",
                "node10",
                "rack2-n1",
                "rack10-n1"
            ]
        );
        // Numbers of any length compare by value.
        let big = "n99999999999999999999999999999999999999999";
        assert_eq!(natural_cmp(big, "n100"), Ordering::Greater);
    }

    /// One case a line: the names as given, and the hostlist they compress to.
    #[test]
    fn compression() {
        let cases: &[(&[&str], &str)] = &[
            (&["node1", "node2", "node4"], "node[1-2,4]"),
            (&["node3"], "node3"),
            (&["node4", "node1", "node2", "node2"], "node[1-2,4]"),
            (&["node9", "node10", "node11"], "node[9-11]"),
            (
                &["node01", "node02", "node10", "node09"],
                "node[01-02,09-10]",
            ),
            // Padded and unpadded never share a range.
            (&["node07", "node8"], "node[07,8]"),
            (&["node1", "node01"], "node[01,1]"),
            (
                &["rack1-n1", "rack1-n2", "rack2-n1"],
                "rack1-n[1-2],rack2-n1",
            ),
            (&["gpu1", "node2", "node1", "login"], "gpu1,login,node[1-2]"),
            (&["n1a", "n2a", "n3b"], "n[1-2]a,n3b"),
            (&["zzz*", "node[1-3]", "a,b"], "a,b,node[1-3],zzz*"),
            (&["off", "on"], "off,on"),
            (&[], ""),
        ];
        let failed: Vec<String> = cases
            .iter()
            .filter_map(|(names, want)| {
                let got = compress(names.iter().copied());
                (got != *want).then(|| format!("{names:?}: want {want}, got {got}"))
            })
            .collect();
        assert!(failed.is_empty(), "failing cases:\n{}", failed.join("\n"));
    }
}
