//! Fault scripts for the fake CDN: which push call fails, and how.
//!
//! Takes a script such as `500@1-3, drop@5, slow:3000@1, random:0.2:seed=7, revoke@9` and, for each push call
//! (numbered from 1), returns the [`Fault`] to inject instead of processing it, if any. Rules are separated by
//! commas, semicolons or whitespace; the first explicit rule that covers a call wins, and `random` only applies to
//! calls no explicit rule covers. Parsing never panics: a bad rule is an error naming it and its position.
//!
//! Rule syntax: `KIND[@RANGE]` where `RANGE` is `N`, `N-M` or `N-` (from N on) and no range means every push call.
//! Kinds: an HTTP status `100..=599` (HTML body; `503:empty` for an empty body), `slow:<ms>`, `timeout:<ms>`,
//! `drop`, `reset`, `truncated`, `html200`, `throttle`, `auth`, `internal`, `revoke`, `exhaust` (the rest of
//! today's quota is spent elsewhere just before the call, which is then processed), and
//! `random:<probability>[:seed=<u64>]`.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status and an HTML body (`empty` = no body).
    Status {
        /// The status code.
        code: u16,
        /// No body at all.
        empty: bool,
    },
    /// Sleep, then process normally — unless the client has hung up meanwhile (a client timeout), in which case
    /// the connection is dropped and the request is NOT processed.
    Slow(Duration),
    /// Sleep, then drop the connection without processing (a server that never answers).
    Timeout(Duration),
    /// Close the connection without answering.
    Drop,
    /// Write half a response, then close.
    Reset,
    /// HTTP 200 with a JSON body cut in half.
    Truncated,
    /// HTTP 200 with an HTML error page.
    Html200,
    /// The API's throttled answer (v2 `(9163)`, v3 `RequestLimitExceeded`).
    Throttle,
    /// The API's authentication failure.
    Auth,
    /// The API's internal error (v2 6000, v3 `InternalError`).
    Internal,
    /// Revoke the credentials from this call on (this call and every later one fail authentication).
    Revoke,
    /// Someone else spends the rest of today's quota (every area) just before this call, which is then processed
    /// normally: the realistic "quota ran out mid-run" answer.
    Exhaust,
}

/// The faults `random` draws from.
const RANDOM_POOL: [Fault; 8] = [
    Fault::Status {
        code: 500,
        empty: false,
    },
    Fault::Status {
        code: 502,
        empty: false,
    },
    Fault::Status {
        code: 503,
        empty: false,
    },
    Fault::Drop,
    Fault::Reset,
    Fault::Truncated,
    Fault::Html200,
    Fault::Throttle,
];

#[derive(Debug, Clone)]
struct Rule {
    fault: Fault,
    from: u64,
    to: Option<u64>,
}

/// A parsed fault script with its random state.
#[derive(Debug, Clone, Default)]
pub struct FaultScript {
    rules: Vec<Rule>,
    random: Option<(f64, StdRng)>,
}

impl FaultScript {
    /// Parses a script; `""` = no faults.
    ///
    /// # Errors
    /// A rule that does not parse, named with its 1-based position in the script.
    pub fn parse(script: &str) -> Result<Self, String> {
        let mut out = Self::default();
        let tokens = script
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|t| !t.is_empty());
        for (i, token) in tokens.enumerate() {
            let err = |why: &str| format!("fault rule {} {token:?}: {why}", i + 1);
            if let Some(rest) = token.strip_prefix("random:") {
                let mut parts = rest.split(':');
                let p: f64 = parts
                    .next()
                    .and_then(|p| p.parse().ok())
                    .filter(|p: &f64| (0.0..=1.0).contains(p))
                    .ok_or_else(|| err("expected random:<probability 0..1>[:seed=<n>]"))?;
                let mut seed = 0u64;
                for part in parts {
                    seed = part
                        .strip_prefix("seed=")
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| err("expected seed=<unsigned integer>"))?;
                }
                out.random = Some((p, StdRng::seed_from_u64(seed)));
                continue;
            }
            let (kind, range) = match token.split_once('@') {
                Some((k, r)) => (k, Some(r)),
                None => (token, None),
            };
            let fault = parse_kind(kind).map_err(|why| err(&why))?;
            let (from, to) = match range {
                None => (1, None),
                Some(r) => parse_range(r)
                    .ok_or_else(|| err("expected @N, @N-M or @N- (calls count from 1)"))?,
            };
            out.rules.push(Rule { fault, from, to });
        }
        Ok(out)
    }

    /// Whether the script injects nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.random.is_none()
    }

    /// The fault for push call number `call` (1-based), advancing the random state when `random` is consulted.
    pub fn fault_for(&mut self, call: u64) -> Option<Fault> {
        if let Some(rule) = self
            .rules
            .iter()
            .find(|r| call >= r.from && r.to.is_none_or(|to| call <= to))
        {
            return Some(rule.fault);
        }
        let (p, rng) = self.random.as_mut()?;
        // Always draw both numbers so the sequence depends only on the seed and the call count.
        let roll: f64 = rng.r#gen();
        let pick = rng.gen_range(0..RANDOM_POOL.len());
        (roll < *p).then_some(RANDOM_POOL[pick])
    }
}

fn parse_kind(kind: &str) -> Result<Fault, String> {
    let ms = |v: &str| {
        v.parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("bad milliseconds {v:?}"))
    };
    Ok(match kind {
        "drop" => Fault::Drop,
        "reset" => Fault::Reset,
        "truncated" => Fault::Truncated,
        "html200" => Fault::Html200,
        "throttle" => Fault::Throttle,
        "auth" => Fault::Auth,
        "internal" => Fault::Internal,
        "revoke" => Fault::Revoke,
        "exhaust" => Fault::Exhaust,
        _ => {
            if let Some(v) = kind.strip_prefix("slow:") {
                Fault::Slow(ms(v.trim_end_matches("ms"))?)
            } else if let Some(v) = kind.strip_prefix("timeout:") {
                Fault::Timeout(ms(v.trim_end_matches("ms"))?)
            } else {
                let (code, empty) = match kind.split_once(':') {
                    Some((c, "empty")) => (c, true),
                    Some((c, "html")) => (c, false),
                    Some(_) => return Err("an http status takes :empty or :html".into()),
                    None => (kind, false),
                };
                match code.parse::<u16>() {
                    Ok(code) if (100..=599).contains(&code) => Fault::Status { code, empty },
                    _ => return Err(format!("unknown fault kind {kind:?}")),
                }
            }
        }
    })
}

fn parse_range(r: &str) -> Option<(u64, Option<u64>)> {
    let num = |s: &str| s.parse::<u64>().ok().filter(|n| *n >= 1);
    match r.split_once('-') {
        None => num(r).map(|n| (n, Some(n))),
        Some((a, "")) => num(a).map(|n| (n, None)),
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            (a <= b).then_some((a, Some(b)))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn explicit_rules_and_ranges() {
        let mut s = FaultScript::parse("500@1-2, drop@4; slow:30@5 503:empty@6- reset@7").unwrap();
        let got: Vec<_> = (1..=8).map(|c| s.fault_for(c)).collect();
        assert_eq!(
            got,
            vec![
                Some(Fault::Status {
                    code: 500,
                    empty: false
                }),
                Some(Fault::Status {
                    code: 500,
                    empty: false
                }),
                None,
                Some(Fault::Drop),
                Some(Fault::Slow(Duration::from_millis(30))),
                Some(Fault::Status {
                    code: 503,
                    empty: true
                }),
                Some(Fault::Status {
                    code: 503,
                    empty: true
                }), // first matching rule wins
                Some(Fault::Status {
                    code: 503,
                    empty: true
                }),
            ]
        );
        let mut all = FaultScript::parse("throttle").unwrap();
        assert_eq!(all.fault_for(99), Some(Fault::Throttle));
        assert!(FaultScript::parse("").unwrap().is_empty());
    }

    #[test]
    fn bad_rules_are_named() {
        for bad in [
            "bogus@1",
            "500@0",
            "500@3-1",
            "slow:x@1",
            "random:2",
            "random:0.1:seed=x",
            "700",
            "500:blue",
        ] {
            let e = FaultScript::parse(&format!("drop@1,{bad}")).unwrap_err();
            assert!(e.starts_with("fault rule 2 "), "{bad}: {e}");
        }
    }

    #[test]
    fn random_is_deterministic_for_a_seed() {
        let run = |script: &str| {
            let mut s = FaultScript::parse(script).unwrap();
            (1..=200).map(|c| s.fault_for(c)).collect::<Vec<_>>()
        };
        let a = run("random:0.2:seed=7");
        assert_eq!(a, run("random:0.2:seed=7"));
        assert_ne!(a, run("random:0.2:seed=8"));
        let hits = a.iter().filter(|f| f.is_some()).count();
        assert!(
            (15..=70).contains(&hits),
            "{hits} faults in 200 calls at p=0.2"
        );
        assert!(a.iter().flatten().all(|f| RANDOM_POOL.contains(f)));
        assert!(run("random:0").iter().all(Option::is_none));
        // An explicit rule takes precedence over random.
        let mut s = FaultScript::parse("random:1:seed=1,drop@2").unwrap();
        assert_eq!(s.fault_for(2), Some(Fault::Drop));
        assert!(s.fault_for(3).is_some());
    }
}
