//! Rate-limit arithmetic: an exact sliding-window log ("at most N requests in any W ms") for the
//! per-client limit, a token bucket for status polls, the IETF `RateLimit` header values, and
//! when a window kept in memory is written to storage.
//! Invariant: a window never admits more than `limit` requests whose timestamps lie within `W`.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::routes::RouteName;

/// A named limit, e.g. `client`: 60 requests per 60 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub name: &'static str,
    pub limit: u32,
    pub window_ms: i64,
}

/// The POS client limit of the seed: 60 requests per minute per client_id.
pub const CLIENT_POLICY: Policy = Policy {
    name: "client",
    limit: 60,
    window_ms: 60_000,
};
/// Tokens issued per client_id, counted in the client's own gate only once its secret verified:
/// generous for a client that needs one token an hour, and only a holder of the secret can use it
/// up, so no stranger can lock a merchant out.
pub const TOKEN_PER_CLIENT_POLICY: Policy = Policy {
    name: "token-client",
    limit: 20,
    window_ms: 60_000,
};
/// Token-endpoint requests per source IP, whatever the client_id (stops spraying ids and
/// guessing secrets). Enforced by the `TOKEN_IP_LIMITER` Rate Limiting binding, whose
/// wrangler.toml `simple` limit and period must equal these.
pub const TOKEN_PER_IP_POLICY: Policy = Policy {
    name: "token-ip",
    limit: 60,
    window_ms: 60_000,
};
/// Failed secret checks per client_id (known or not), by the `TOKEN_FAILURE_LIMITER` binding:
/// past it, wrong secrets get 429 instead of 401. A correct secret is never counted here.
pub const TOKEN_FAILURE_POLICY: Policy = Policy {
    name: "token-failures",
    limit: 20,
    window_ms: 60_000,
};
/// Status polls per client, across all its requests: a ceiling against abuse, far above what
/// honest polling needs (each request also has its own bucket, `POLL_POLICY`).
pub const POLL_CLIENT_POLICY: Policy = Policy {
    name: "poll-client",
    limit: 600,
    window_ms: 60_000,
};

impl Policy {
    /// The same policy with its limit multiplied (operations' `RATE_LIMIT_SCALE`).
    pub fn scaled(self, factor: u32) -> Self {
        Self {
            limit: self.limit.saturating_mul(factor.max(1)),
            ..self
        }
    }
}

/// Card reads per client (balance, validity of a presented card): low, because each one is a
/// look at an employee's card, and an honest POS reads a card once per sale at most.
pub const CARD_READ_POLICY: Policy = Policy {
    name: "card-reads",
    limit: 10,
    window_ms: 60_000,
};

/// A route's own window, counted by the client's gate in the same round trip as (and before)
/// the client's 60/min window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteWindow {
    CardReads,
}

impl RouteWindow {
    pub const fn policy(self) -> Policy {
        match self {
            RouteWindow::CardReads => CARD_READ_POLICY,
        }
    }

    /// The window a route is counted in besides the client's, if it has one.
    pub fn for_route(route: RouteName) -> Option<Self> {
        match route {
            RouteName::PosCardBalance | RouteName::PosCardValidity => Some(RouteWindow::CardReads),
            _ => None,
        }
    }
}

/// Employee wallet logins per source IP, whatever the wallet id: stops one address from spraying
/// a few PINs over many wallets. Enforced by the Workers Rate Limiting binding
/// `WALLET_LOGIN_IP_LIMITER`, whose `wrangler.back.toml` entries must say the same (a test checks).
pub const WALLET_LOGIN_PER_IP_POLICY: Policy = Policy {
    name: "wallet-login-ip",
    limit: 20,
    window_ms: 60_000,
};

impl Policy {
    /// The refusal of a fixed-window limiter whose windows are aligned on the epoch, as the Rate
    /// Limiting binding counts: room again when the current window ends.
    pub fn fixed_window_refusal(self, now_ms: i64) -> Decision {
        let window = self.window_ms.max(1);
        Decision {
            policy: self,
            allowed: false,
            remaining: 0,
            reset_secs: ceil_secs(window - now_ms.rem_euclid(window)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub policy: Policy,
    pub allowed: bool,
    /// Requests still allowed in the current window after this one.
    pub remaining: u32,
    /// Seconds until the window has room again (0 when it has room now).
    pub reset_secs: i64,
}

impl Decision {
    /// `RateLimit-Policy` value (draft-ietf-httpapi-ratelimit-headers).
    pub fn policy_header(&self) -> String {
        format!(
            "\"{}\";q={};w={}",
            self.policy.name,
            self.policy.limit,
            self.policy.window_ms / 1000
        )
    }

    /// `RateLimit` value.
    pub fn limit_header(&self) -> String {
        format!(
            "\"{}\";r={};t={}",
            self.policy.name, self.remaining, self.reset_secs
        )
    }

    /// `Retry-After` seconds for a refusal (at least 1).
    pub fn retry_after_secs(&self) -> i64 {
        self.reset_secs.max(1)
    }
}

/// Timestamps (ms) of the admitted requests still inside the window, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlidingWindow {
    stamps: VecDeque<i64>,
}

fn ceil_secs(ms: i64) -> i64 {
    (ms + 999).div_euclid(1000)
}

impl SlidingWindow {
    /// Admits one request at `now` if fewer than `limit` were admitted in the last `window_ms`.
    pub fn admit(&mut self, now_ms: i64, policy: Policy) -> Decision {
        // A clock that steps back must not let a request slip in before older ones expire.
        let now_ms = now_ms.max(self.stamps.back().copied().unwrap_or(i64::MIN));
        while self
            .stamps
            .front()
            .is_some_and(|&t| t <= now_ms - policy.window_ms)
        {
            self.stamps.pop_front();
        }
        let allowed = self.stamps.len() < policy.limit as usize;
        if allowed {
            self.stamps.push_back(now_ms);
        }
        let full = self.stamps.len() >= policy.limit as usize;
        let reset_secs = match (full, self.stamps.front()) {
            (true, Some(&oldest)) => ceil_secs(oldest + policy.window_ms - now_ms),
            _ => 0,
        };
        Decision {
            policy,
            allowed,
            remaining: policy.limit.saturating_sub(self.stamps.len() as u32),
            reset_secs,
        }
    }

    /// Compact storage form: comma-separated millisecond timestamps.
    pub fn encode(&self) -> String {
        self.stamps
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The stored form back, strictly: `None` for anything that is not a list of timestamps.
    pub fn parse(text: &str) -> Option<Self> {
        let mut stamps = Vec::new();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            stamps.push(part.trim().parse::<i64>().ok()?);
        }
        stamps.sort_unstable();
        Some(Self {
            stamps: stamps.into(),
        })
    }
}

/// A token bucket in thousandths of a token, for status polls: `capacity` burst, refilled at
/// `per_second` tokens per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    pub milli_tokens: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketPolicy {
    pub name: &'static str,
    pub capacity: i64,
    pub per_second: i64,
}

/// Status polls on one session: bursts of 5, 2 per second sustained (the seed polls at 1/s).
pub const POLL_POLICY: BucketPolicy = BucketPolicy {
    name: "poll",
    capacity: 5,
    per_second: 2,
};

impl TokenBucket {
    pub fn full(policy: BucketPolicy, now_ms: i64) -> Self {
        Self {
            milli_tokens: policy.capacity * 1000,
            updated_ms: now_ms,
        }
    }

    /// Takes one token if available. Returns the decision as a [`Decision`] for the headers.
    pub fn take(&mut self, now_ms: i64, policy: BucketPolicy) -> Decision {
        let elapsed = (now_ms - self.updated_ms).max(0);
        self.milli_tokens =
            (self.milli_tokens + elapsed * policy.per_second).min(policy.capacity * 1000);
        self.updated_ms = now_ms.max(self.updated_ms);
        let allowed = self.milli_tokens >= 1000;
        if allowed {
            self.milli_tokens -= 1000;
        }
        let missing = (1000 - self.milli_tokens).max(0);
        let reset_ms = if self.milli_tokens >= 1000 {
            0
        } else {
            missing / policy.per_second.max(1)
        };
        Decision {
            policy: Policy {
                name: policy.name,
                limit: policy.capacity as u32,
                window_ms: policy.capacity * 1000 / policy.per_second.max(1),
            },
            allowed,
            remaining: (self.milli_tokens / 1000) as u32,
            reset_secs: ceil_secs(reset_ms),
        }
    }
}

/// How often a counted window is written to storage at most. Its object counts in memory, exactly;
/// storage only matters when the object restarts within a window (a deploy, a crash), and then it
/// forgets at most the admissions of this last stretch. Writing every count cost a storage flush
/// before every answer.
pub const WINDOW_CHECKPOINT_MS: i64 = 1_000;

/// Whether a window last written at `last` (`None`: not since the object started) is written
/// again at `now`. A clock that steps back writes too.
pub fn checkpoint_due(last: Option<crate::Millis>, now: crate::Millis) -> bool {
    last.is_none_or(|last| now.0 < last.0 || now.0 - last.0 >= WINDOW_CHECKPOINT_MS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_window_is_written_at_start_then_at_most_once_a_checkpoint() {
        use crate::Millis;
        assert!(checkpoint_due(None, Millis(5_000)));
        assert!(!checkpoint_due(Some(Millis(5_000)), Millis(5_000)));
        assert!(!checkpoint_due(Some(Millis(5_000)), Millis(5_999)));
        assert!(checkpoint_due(Some(Millis(5_000)), Millis(6_000)));
        assert!(checkpoint_due(Some(Millis(5_000)), Millis(4_000)));
    }

    #[test]
    fn admits_exactly_sixty_per_minute() {
        let mut w = SlidingWindow::default();
        let t0 = 1_000_000;
        for i in 0..60 {
            let d = w.admit(t0 + i, CLIENT_POLICY);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 59 - i as u32);
        }
        let refused = w.admit(t0 + 60, CLIENT_POLICY);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.reset_secs, 60);
        assert_eq!(refused.retry_after_secs(), 60);
        assert_eq!(refused.policy_header(), "\"client\";q=60;w=60");
        assert_eq!(refused.limit_header(), "\"client\";r=0;t=60");
        // The first stamp leaves the window exactly 60 s after it was admitted.
        assert!(!w.admit(t0 + 59_999, CLIENT_POLICY).allowed);
        assert!(w.admit(t0 + 60_000, CLIENT_POLICY).allowed);
        assert!(!w.admit(t0 + 60_000, CLIENT_POLICY).allowed);
    }

    #[test]
    fn the_wallet_login_limiter_is_configured_as_the_policy_says() {
        let refused = WALLET_LOGIN_PER_IP_POLICY.fixed_window_refusal(120_000 + 45_500);
        assert_eq!(refused.retry_after_secs(), 15);
        assert_eq!(refused.policy_header(), "\"wallet-login-ip\";q=20;w=60");
        assert_eq!(refused.limit_header(), "\"wallet-login-ip\";r=0;t=15");
        // Both environments of the back (which answers wallet logins) bind the limiter with this
        // policy's figures.
        let wrangler = include_str!("../../../wrangler.back.toml");
        let entry = format!(
            "name = \"WALLET_LOGIN_IP_LIMITER\"\nnamespace_id = \"1501\"\nsimple = {{ limit = {}, period = {} }}",
            WALLET_LOGIN_PER_IP_POLICY.limit,
            WALLET_LOGIN_PER_IP_POLICY.window_ms / 1000
        );
        assert_eq!(wrangler.matches(&entry).count(), 2, "{entry}");
        assert!(
            wrangler.contains("[[ratelimits]]\n")
                && wrangler.contains("[[env.production.ratelimits]]\n")
        );
    }

    #[test]
    fn storage_round_trips() {
        let mut w = SlidingWindow::default();
        for t in [1, 3, 5] {
            w.admit(t, CLIENT_POLICY);
        }
        assert_eq!(SlidingWindow::parse(&w.encode()), Some(w));
        assert_eq!(SlidingWindow::parse(""), Some(SlidingWindow::default()));
        assert_eq!(SlidingWindow::parse("x,2"), None, "unreadable is not empty");
        let mut stepped_back = SlidingWindow::default();
        stepped_back.admit(10_000, CLIENT_POLICY);
        stepped_back.admit(9_000, CLIENT_POLICY);
        assert_eq!(stepped_back.encode(), "10000,10000");
    }

    #[test]
    fn poll_bucket_allows_the_seed_cadence_and_stops_floods() {
        let mut b = TokenBucket::full(POLL_POLICY, 0);
        // One poll per second for 90 s, as the seed asks: always allowed.
        for s in 0..90 {
            assert!(b.take(s * 1000, POLL_POLICY).allowed, "poll at {s}s");
        }
        // A flood inside one instant: the burst, then refusals.
        let mut b = TokenBucket::full(POLL_POLICY, 0);
        let allowed = (0..20).filter(|_| b.take(0, POLL_POLICY).allowed).count();
        assert_eq!(allowed, 5);
        let refused = b.take(0, POLL_POLICY);
        assert!(!refused.allowed);
        assert_eq!(refused.reset_secs, 1);
        assert!(b.take(500, POLL_POLICY).allowed);
    }

    proptest! {
        #[test]
        fn never_more_than_limit_in_any_window(mut times in proptest::collection::vec(0i64..300_000, 1..400)) {
            times.sort_unstable();
            let mut w = SlidingWindow::default();
            let admitted: Vec<i64> = times.iter().copied().filter(|&t| w.admit(t, CLIENT_POLICY).allowed).collect();
            for (i, &start) in admitted.iter().enumerate() {
                let in_window = admitted[i..].iter().take_while(|&&t| t < start + CLIENT_POLICY.window_ms).count();
                prop_assert!(in_window <= 60);
            }
        }
    }
}
