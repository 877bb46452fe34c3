//! The CRE quality score (SPEC §4.2): deterministic, 0–10 000, five buckets
//! of at most 2 000 each, stored with its breakdown.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::geo;
use crate::lead::{Source, ValidLead};

/// Highest possible score.
pub const MAX_SCORE: u32 = 10_000;

/// Quality tier derived from the score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// ≥ 8 500.
    Premium,
    /// ≥ 6 500.
    Standard,
    /// ≥ 4 000.
    Basic,
    /// Below 4 000.
    Low,
}

impl Tier {
    /// The tier of a score.
    pub fn of(score: u32) -> Self {
        match score {
            8_500.. => Self::Premium,
            6_500.. => Self::Standard,
            4_000.. => Self::Basic,
            _ => Self::Low,
        }
    }

    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Premium => "premium",
            Self::Standard => "standard",
            Self::Basic => "basic",
            Self::Low => "low",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "premium" => Self::Premium,
            "standard" => Self::Standard,
            "basic" => Self::Basic,
            "low" => Self::Low,
            _ => return None,
        })
    }
}

/// Points per bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breakdown {
    /// Consent freshness, 0–2 000.
    pub consent_freshness: u32,
    /// Geo completeness, 0–2 000.
    pub geo_completeness: u32,
    /// Contact completeness, 0–2 000.
    pub contact_completeness: u32,
    /// Field richness, 0–2 000.
    pub field_richness: u32,
    /// Source, 0–2 000.
    pub source: u32,
}

impl Breakdown {
    /// Sum of the buckets.
    pub fn total(&self) -> u32 {
        self.consent_freshness + self.geo_completeness + self.contact_completeness + self.field_richness + self.source
    }
}

/// A computed score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// 0–10 000.
    pub value: u32,
    /// Its tier.
    pub tier: Tier,
    /// Per-bucket points.
    pub breakdown: Breakdown,
}

/// Consent freshness: 2 000 up to 24 h old, then linear decay to 0 at 30
/// days (integer arithmetic on seconds, rounded down). No consent: 0.
pub fn consent_freshness(tcpa_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> u32 {
    let Some(at) = tcpa_at else { return 0 };
    let age = (now - at).max(Duration::zero()).num_seconds();
    let full = Duration::hours(24).num_seconds();
    let zero = Duration::days(30).num_seconds();
    if age <= full {
        2_000
    } else if age >= zero {
        0
    } else {
        // (zero - age) / (zero - full) of 2 000; fits easily in i64.
        u32::try_from(2_000 * (zero - age) / (zero - full)).unwrap_or(0)
    }
}

/// Geo completeness: region 800, postal code 600, postal code verified to
/// lie in the region 600 (only where the registry can check it).
pub fn geo_completeness(g: &geo::Geo) -> u32 {
    let mut pts = 0;
    if g.region.is_some() {
        pts += 800;
    }
    if g.postal_code.is_some() {
        pts += 600;
    }
    if let (Some(p), Some(r)) = (&g.postal_code, &g.region)
        && geo::postal_matches_region(&g.country, p, r) == Some(true)
    {
        pts += 600;
    }
    pts
}

/// Contact completeness: both phone and e-mail 2 000, one 1 000, none 0.
pub fn contact_completeness(has_phone: bool, has_email: bool) -> u32 {
    match (has_phone, has_email) {
        (true, true) => 2_000,
        (true, false) | (false, true) => 1_000,
        (false, false) => 0,
    }
}

/// Field richness: 400 per filled non-PII field, at most 5.
pub fn field_richness(filled_public_fields: usize) -> u32 {
    400 * u32::try_from(filled_public_fields.min(5)).unwrap_or(5)
}

/// Source points.
pub fn source_points(source: Source) -> u32 {
    match source {
        Source::Form => 2_000,
        Source::Partner | Source::Call => 1_500,
        Source::Api => 1_000,
        Source::Other => 500,
    }
}

/// What the score is computed from: everything is stored on the lead, so
/// a worker can score it later without the PII.
#[derive(Clone, Copy, Debug)]
pub struct ScoreInput<'a> {
    /// Consent time, if any.
    pub consent_at: Option<DateTime<Utc>>,
    /// Normalised geo.
    pub geo: &'a geo::Geo,
    /// A valid phone was given.
    pub has_phone: bool,
    /// A valid e-mail was given.
    pub has_email: bool,
    /// Number of filled non-PII fields.
    pub public_fields: usize,
    /// Source.
    pub source: Source,
}

/// Scores `input` at `now`.
pub fn score_input(input: &ScoreInput<'_>, now: DateTime<Utc>) -> Score {
    let breakdown = Breakdown {
        consent_freshness: consent_freshness(input.consent_at, now),
        geo_completeness: geo_completeness(input.geo),
        contact_completeness: contact_completeness(input.has_phone, input.has_email),
        field_richness: field_richness(input.public_fields),
        source: source_points(input.source),
    };
    let value = breakdown.total();
    Score { value, tier: Tier::of(value), breakdown }
}

/// Scores a validated lead at `now`.
pub fn score(lead: &ValidLead, now: DateTime<Utc>) -> Score {
    score_input(
        &ScoreInput {
            consent_at: lead.consent.as_ref().map(|c| c.tcpa_at),
            geo: &lead.geo,
            has_phone: lead.has_phone,
            has_email: lead.has_email,
            public_fields: lead.public_fields.len(),
            source: lead.source,
        },
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).single().expect("valid date")
    }

    #[test]
    fn consent_freshness_worked_examples() {
        let n = now();
        assert_eq!(consent_freshness(None, n), 0);
        assert_eq!(consent_freshness(Some(n), n), 2_000);
        assert_eq!(consent_freshness(Some(n - Duration::hours(24)), n), 2_000);
        // Halfway between 24 h and 30 days (15.5 days) → 1 000.
        assert_eq!(consent_freshness(Some(n - Duration::hours(24 + 348)), n), 1_000);
        // 29 days: 1/29 of the decay window left → 68.96… → 68.
        assert_eq!(consent_freshness(Some(n - Duration::days(29)), n), 68);
        assert_eq!(consent_freshness(Some(n - Duration::days(30)), n), 0);
        assert_eq!(consent_freshness(Some(n - Duration::days(90)), n), 0);
        // A timestamp slightly in the future counts as fresh.
        assert_eq!(consent_freshness(Some(n + Duration::minutes(1)), n), 2_000);
    }

    #[test]
    fn geo_completeness_worked_examples() {
        let mut g = geo::Geo {
            country: "US".into(),
            region: Some("CA".into()),
            postal_code: Some("90210".into()),
            city: None,
            lat: None,
            lng: None,
        };
        assert_eq!(geo_completeness(&g), 2_000);
        g.region = Some("NY".into());
        assert_eq!(geo_completeness(&g), 1_400, "zip does not lie in NY");
        g.postal_code = None;
        assert_eq!(geo_completeness(&g), 800);
        g.region = None;
        assert_eq!(geo_completeness(&g), 0);
        g.postal_code = Some("90210".into());
        assert_eq!(geo_completeness(&g), 600);
    }

    #[test]
    fn contact_field_and_source_buckets() {
        assert_eq!(contact_completeness(true, true), 2_000);
        assert_eq!(contact_completeness(true, false), 1_000);
        assert_eq!(contact_completeness(false, true), 1_000);
        assert_eq!(contact_completeness(false, false), 0);
        assert_eq!(field_richness(0), 0);
        assert_eq!(field_richness(3), 1_200);
        assert_eq!(field_richness(5), 2_000);
        assert_eq!(field_richness(9), 2_000);
        assert_eq!(source_points(Source::Form), 2_000);
        assert_eq!(source_points(Source::Partner), 1_500);
        assert_eq!(source_points(Source::Call), 1_500);
        assert_eq!(source_points(Source::Api), 1_000);
        assert_eq!(source_points(Source::Other), 500);
    }

    #[test]
    fn tiers_have_no_artificial_floor() {
        assert_eq!(Tier::of(10_000), Tier::Premium);
        assert_eq!(Tier::of(8_500), Tier::Premium);
        assert_eq!(Tier::of(8_499), Tier::Standard);
        assert_eq!(Tier::of(6_500), Tier::Standard);
        assert_eq!(Tier::of(6_499), Tier::Basic);
        assert_eq!(Tier::of(4_000), Tier::Basic);
        assert_eq!(Tier::of(3_999), Tier::Low);
        assert_eq!(Tier::of(0), Tier::Low);
    }
}
