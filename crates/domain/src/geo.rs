//! Geography: the registry of countries the exchange serves, with their
//! first-level regions and postal-code rules, and validation of a lead's geo.
//!
//! Region codes are ISO 3166-2 subdivision codes without the country prefix
//! (`US-CA` → `CA`, `JP-13` → `13`, `GB-SCT` → `SCT`). A few countries have
//! changed codes recently; the old codes are accepted on input as aliases and
//! normalised to the current ones.
//!
//! Postal codes are normalised per country (trimmed, upper-cased, spacing and
//! hyphens put in their national form) and then matched against the
//! country's pattern. AE and GH have no national postal-code system (the UAE
//! uses P.O. boxes, Ghana its GhanaPostGPS digital addresses); there any
//! short alphanumeric code is accepted as given, and its absence is fine too.
//!
//! US ZIP codes are also checked against the state by their 3-digit prefix
//! ([`us_zip_prefix_state`]).

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Longest city name accepted, in characters.
pub const MAX_CITY_CHARS: usize = 100;

/// Raw postal codes longer than this (in bytes) are rejected outright.
const MAX_POSTAL_INPUT: usize = 32;

/// Longest echo of client input kept in an error.
const MAX_ECHO_CHARS: usize = 32;

/// What a client sends.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoInput {
    /// ISO 3166-1 alpha-2 country code, any case.
    pub country: String,
    /// Region (state/province) code, any case.
    #[serde(default)]
    pub region: Option<String>,
    /// Postal code in the country's usual notation.
    #[serde(default)]
    pub postal_code: Option<String>,
    /// City name.
    #[serde(default)]
    pub city: Option<String>,
    /// Latitude in degrees, with `lng`.
    #[serde(default)]
    pub lat: Option<f64>,
    /// Longitude in degrees, with `lat`.
    #[serde(default)]
    pub lng: Option<f64>,
}

/// A validated, normalised geo: country and region upper case and known,
/// the postal code in its national notation (US `90210` or `90210-1234`,
/// CA `K1A 0B1`, GB `SW1A 1AA`, BR `01310-100`, JP `100-0001`), blank
/// optional parts dropped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Geo {
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// Region code of that country (ISO 3166-2 without the country prefix).
    pub region: Option<String>,
    /// Normalised postal code.
    pub postal_code: Option<String>,
    /// Trimmed city name.
    pub city: Option<String>,
    /// Latitude in degrees.
    pub lat: Option<f64>,
    /// Longitude in degrees.
    pub lng: Option<f64>,
}

/// How a raw postal code is brought into its national notation before it is
/// matched against the country's pattern. Every format trims and upper-cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostalFormat {
    /// All whitespace removed (`"110 001"` → `"110001"`).
    Compact,
    /// Whitespace removed, then one space before the last three characters
    /// (`"k1a0b1"` → `"K1A 0B1"`, `"sw1a1aa"` → `"SW1A 1AA"`).
    SpaceBeforeLast3,
    /// Whitespace removed; a run of exactly `digits` digits gets a hyphen
    /// after the first `at` (`"902101234"` → `"90210-1234"`).
    Hyphenated {
        /// Digits before the hyphen.
        at: usize,
        /// Total digits of the hyphenated form.
        digits: usize,
    },
    /// No national postal-code system: runs of whitespace collapsed to one
    /// space, any short alphanumeric code accepted.
    FreeForm,
}

/// One country of the registry.
#[derive(Debug, PartialEq)]
pub struct Country {
    /// ISO 3166-1 alpha-2 code.
    pub code: &'static str,
    /// English short name.
    pub name: &'static str,
    /// First-level subdivisions: (code without the country prefix, name).
    pub regions: &'static [(&'static str, &'static str)],
    /// Former or alternative region codes accepted on input: (alias, code).
    pub region_aliases: &'static [(&'static str, &'static str)],
    /// Anchored regular expression a normalised postal code must match.
    pub postal_pattern: &'static str,
    /// How raw input is normalised before matching.
    pub postal_format: PostalFormat,
    /// A valid postal code, for documentation and error messages.
    pub postal_example: &'static str,
}

impl Country {
    /// The canonical region code for `code` (case-insensitive; an alias or
    /// a `"CC-"`-prefixed form is accepted), `None` if unknown.
    pub fn region(&self, code: &str) -> Option<&'static str> {
        let code = code.trim();
        let code = match code.split_once('-') {
            Some((cc, rest)) if cc.eq_ignore_ascii_case(self.code) => rest,
            _ => code,
        };
        self.regions
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(code))
            .map(|(c, _)| *c)
            .or_else(|| self.region_aliases.iter().find(|(alias, _)| alias.eq_ignore_ascii_case(code)).map(|(_, c)| *c))
    }

    /// The name of a region, by code or alias.
    pub fn region_name(&self, code: &str) -> Option<&'static str> {
        let code = self.region(code)?;
        self.regions.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
    }

    /// Whether the country has a national postal-code system.
    pub fn has_postal_codes(&self) -> bool {
        self.postal_format != PostalFormat::FreeForm
    }

    /// `raw` in the country's notation if it is a well-formed postal code
    /// there (for the US this checks the format only, not the ZIP prefix).
    pub fn normalise_postal_code(&self, raw: &str) -> Option<String> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > MAX_POSTAL_INPUT || !raw.is_ascii() {
            return None;
        }
        let upper = raw.to_ascii_uppercase();
        let compact: String = upper.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let candidate = match self.postal_format {
            PostalFormat::Compact => compact,
            PostalFormat::SpaceBeforeLast3 => match compact.len().checked_sub(3) {
                Some(split) if split > 0 => {
                    let (head, tail) = compact.split_at(split);
                    format!("{head} {tail}")
                }
                _ => compact,
            },
            PostalFormat::Hyphenated { at, digits } => {
                if compact.len() == digits && at < digits && compact.bytes().all(|b| b.is_ascii_digit()) {
                    let (head, tail) = compact.split_at(at);
                    format!("{head}-{tail}")
                } else {
                    compact
                }
            }
            PostalFormat::FreeForm => upper.split_ascii_whitespace().collect::<Vec<_>>().join(" "),
        };
        POSTAL_REGEXES.get(self.code).is_some_and(|re| re.is_match(&candidate)).then_some(candidate)
    }
}

/// Why a geo is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeoError {
    /// The country is missing or not served.
    #[error("unknown country `{0}`")]
    UnknownCountry(String),
    /// The region is not a region of the country.
    #[error("unknown region `{region}` for country {country}")]
    UnknownRegion {
        /// The country.
        country: String,
        /// The region as given (upper case, clipped).
        region: String,
    },
    /// The postal code does not have the country's format, or (US) its
    /// prefix is not assigned to any state.
    #[error("`{postal_code}` is not a valid postal code for {country}")]
    InvalidPostalCode {
        /// The country.
        country: String,
        /// The postal code as given (clipped).
        postal_code: String,
    },
    /// The postal code lies in another region than the one given.
    #[error("postal code `{postal_code}` does not lie in region {region}")]
    PostalRegionMismatch {
        /// The normalised postal code.
        postal_code: String,
        /// The region given.
        region: String,
    },
    /// Latitude/longitude out of range, not finite, or only one of them.
    #[error("lat must be within [-90, 90] and lng within [-180, 180], both or neither")]
    InvalidCoordinates,
    /// The city name is longer than [`MAX_CITY_CHARS`].
    #[error("city is longer than {MAX_CITY_CHARS} characters")]
    CityTooLong,
}

impl GeoError {
    /// Stable snake_case error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownCountry(_) => "unknown_country",
            Self::UnknownRegion { .. } => "unknown_region",
            Self::InvalidPostalCode { .. } => "invalid_postal_code",
            Self::PostalRegionMismatch { .. } => "postal_region_mismatch",
            Self::InvalidCoordinates => "invalid_coordinates",
            Self::CityTooLong => "invalid_city",
        }
    }

    /// The offending request field.
    pub fn field(&self) -> &'static str {
        match self {
            Self::UnknownCountry(_) => "geo.country",
            Self::UnknownRegion { .. } => "geo.region",
            Self::InvalidPostalCode { .. } | Self::PostalRegionMismatch { .. } => "geo.postal_code",
            Self::InvalidCoordinates => "geo.lat",
            Self::CityTooLong => "geo.city",
        }
    }
}

/// Every country the exchange serves.
pub fn countries() -> &'static [Country] {
    COUNTRIES
}

/// A country by ISO alpha-2 code, case-insensitive (`"UK"` is accepted for
/// `GB`).
pub fn country(code: &str) -> Option<&'static Country> {
    let code = code.trim();
    let code = if code.eq_ignore_ascii_case("UK") { "GB" } else { code };
    COUNTRIES.iter().find(|c| c.code.eq_ignore_ascii_case(code))
}

/// Validates and normalises a client's geo.
///
/// Blank optional parts (region, postal code, city) count as absent. For the
/// US the ZIP prefix must be assigned to a state, and must be the given
/// region's when one is given.
pub fn validate(input: &GeoInput) -> Result<Geo, GeoError> {
    let raw_country = input.country.trim();
    let c = country(raw_country).ok_or_else(|| GeoError::UnknownCountry(clip(raw_country)))?;

    let region =
        match non_blank(input.region.as_deref()) {
            None => None,
            Some(r) => Some(c.region(r).ok_or_else(|| GeoError::UnknownRegion {
                country: c.code.to_owned(),
                region: clip(&r.to_uppercase()),
            })?),
        };

    let postal_code = match non_blank(input.postal_code.as_deref()) {
        None => None,
        Some(p) => {
            let invalid = || GeoError::InvalidPostalCode { country: c.code.to_owned(), postal_code: clip(p) };
            let normalised = c.normalise_postal_code(p).ok_or_else(invalid)?;
            if c.code == "US" {
                let state = normalised.get(..3).and_then(us_zip_prefix_state).ok_or_else(invalid)?;
                if let Some(r) = region
                    && r != state
                {
                    return Err(GeoError::PostalRegionMismatch { postal_code: normalised, region: r.to_owned() });
                }
            }
            Some(normalised)
        }
    };

    let city = match non_blank(input.city.as_deref()) {
        None => None,
        Some(city) if city.chars().count() > MAX_CITY_CHARS => return Err(GeoError::CityTooLong),
        Some(city) => Some(city.to_owned()),
    };

    let (lat, lng) = match (input.lat, input.lng) {
        (None, None) => (None, None),
        (Some(lat), Some(lng))
            if lat.is_finite()
                && lng.is_finite()
                && (-90.0..=90.0).contains(&lat)
                && (-180.0..=180.0).contains(&lng) =>
        {
            (Some(lat), Some(lng))
        }
        _ => return Err(GeoError::InvalidCoordinates),
    };

    Ok(Geo { country: c.code.to_owned(), region: region.map(str::to_owned), postal_code, city, lat, lng })
}

/// Whether `postal_code` lies in `region` of `country`: `Some(true/false)`
/// where the registry can tell (US by 3-digit ZIP prefix, CA by the first
/// letter of the postal code, AR by the province letter of a CPA code),
/// `None` otherwise. A malformed postal code or an unknown region of such a
/// country gives `Some(false)`.
pub fn postal_matches_region(country: &str, postal_code: &str, region: &str) -> Option<bool> {
    let c = self::country(country)?;
    if !matches!(c.code, "US" | "CA" | "AR") {
        return None;
    }
    let Some(postal) = c.normalise_postal_code(postal_code) else {
        return Some(false);
    };
    let actual = match c.code {
        "US" => postal.get(..3).and_then(us_zip_prefix_state),
        "CA" => ca_postal_province(&postal),
        // Only the 8-character CPA carries the province; old 4-digit codes
        // do not.
        _ if postal.len() == 8 => postal.get(..1).and_then(|letter| c.region(letter)),
        _ => return None,
    };
    let Some(region) = c.region(region) else {
        return Some(false);
    };
    Some(actual == Some(region))
}

/// The state (or DC, PR, VI, GU) for a US 3-digit ZIP prefix (`"902"` →
/// `Some("CA")`); `None` for unassigned prefixes, military APO/FPO prefixes
/// (AA 340, AE 090–099, AP 962–966) and anything that is not 3 digits.
pub fn us_zip_prefix_state(prefix: &str) -> Option<&'static str> {
    if prefix.len() != 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u16 = prefix.parse().ok()?;
    let i = US_ZIP3.partition_point(|&(_, hi, _)| hi < n);
    US_ZIP3.get(i).filter(|&&(lo, _, _)| lo <= n).map(|&(_, _, state)| state)
}

fn non_blank(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Client input echoed in an error, at most [`MAX_ECHO_CHARS`] characters.
fn clip(s: &str) -> String {
    s.chars().take(MAX_ECHO_CHARS).collect()
}

/// The province of a normalised Canadian postal code, by its first letter
/// (the forward sortation area's district). `X` is shared by the Northwest
/// Territories and Nunavut: X0A, X0B and X0C are Nunavut.
fn ca_postal_province(postal: &str) -> Option<&'static str> {
    let province = match postal.chars().next()? {
        'A' => "NL",
        'B' => "NS",
        'C' => "PE",
        'E' => "NB",
        'G' | 'H' | 'J' => "QC",
        'K' | 'L' | 'M' | 'N' | 'P' => "ON",
        'R' => "MB",
        'S' => "SK",
        'T' => "AB",
        'V' => "BC",
        'X' if ["X0A", "X0B", "X0C"].iter().any(|p| postal.starts_with(p)) => "NU",
        'X' => "NT",
        'Y' => "YT",
        _ => return None,
    };
    Some(province)
}

static POSTAL_REGEXES: LazyLock<HashMap<&'static str, Regex>> = LazyLock::new(|| {
    COUNTRIES.iter().filter_map(|c| Regex::new(c.postal_pattern).ok().map(|re| (c.code, re))).collect()
});

// ---------------------------------------------------------------------------
// US ZIP prefixes.

/// USPS 3-digit ZIP prefixes by state: inclusive ranges `(first, last,
/// state)`, sorted and disjoint. Gaps are unassigned prefixes (000–004, 213,
/// 269, 343, 345, 348, 353, 419, 428–429, 517–519, 529, 533, 536, 552, 568,
/// 578–579, 589, 621, 632, 642–643, 659, 663, 682, 694–699, 702, 709, 715,
/// 732, 742, 771, 817–819, 839, 848–849, 854, 858, 861–862, 866–869, 872,
/// 876, 886–888, 892, 896, 899, 909, 929, 987) and the military APO/FPO
/// prefixes (090–099 AE, 340 AA, 962–966 AP).
///
/// Oddities kept on purpose: 005 is Holtsville NY (IRS), 055 Andover MA
/// (IRS), 201 northern Virginia (Dulles), 569 DC (federal parcel returns),
/// 733 Austin TX (IRS), 885 El Paso TX, 398–399 Georgia. 967 also serves
/// American Samoa and 969 the Northern Mariana Islands, Palau, Micronesia and
/// the Marshall Islands; they map to HI and GU, the regions we register.
const US_ZIP3: &[(u16, u16, &str)] = &[
    (5, 5, "NY"),
    (6, 7, "PR"),
    (8, 8, "VI"),
    (9, 9, "PR"),
    (10, 27, "MA"),
    (28, 29, "RI"),
    (30, 38, "NH"),
    (39, 49, "ME"),
    (50, 54, "VT"),
    (55, 55, "MA"),
    (56, 59, "VT"),
    (60, 69, "CT"),
    (70, 89, "NJ"),
    (100, 149, "NY"),
    (150, 196, "PA"),
    (197, 199, "DE"),
    (200, 200, "DC"),
    (201, 201, "VA"),
    (202, 205, "DC"),
    (206, 212, "MD"),
    (214, 219, "MD"),
    (220, 246, "VA"),
    (247, 268, "WV"),
    (270, 289, "NC"),
    (290, 299, "SC"),
    (300, 319, "GA"),
    (320, 339, "FL"),
    (341, 342, "FL"),
    (344, 344, "FL"),
    (346, 347, "FL"),
    (349, 349, "FL"),
    (350, 352, "AL"),
    (354, 369, "AL"),
    (370, 385, "TN"),
    (386, 397, "MS"),
    (398, 399, "GA"),
    (400, 418, "KY"),
    (420, 427, "KY"),
    (430, 459, "OH"),
    (460, 479, "IN"),
    (480, 499, "MI"),
    (500, 516, "IA"),
    (520, 528, "IA"),
    (530, 532, "WI"),
    (534, 535, "WI"),
    (537, 549, "WI"),
    (550, 551, "MN"),
    (553, 567, "MN"),
    (569, 569, "DC"),
    (570, 577, "SD"),
    (580, 588, "ND"),
    (590, 599, "MT"),
    (600, 620, "IL"),
    (622, 629, "IL"),
    (630, 631, "MO"),
    (633, 641, "MO"),
    (644, 658, "MO"),
    (660, 662, "KS"),
    (664, 679, "KS"),
    (680, 681, "NE"),
    (683, 693, "NE"),
    (700, 701, "LA"),
    (703, 708, "LA"),
    (710, 714, "LA"),
    (716, 729, "AR"),
    (730, 731, "OK"),
    (733, 733, "TX"),
    (734, 741, "OK"),
    (743, 749, "OK"),
    (750, 770, "TX"),
    (772, 799, "TX"),
    (800, 816, "CO"),
    (820, 831, "WY"),
    (832, 838, "ID"),
    (840, 847, "UT"),
    (850, 853, "AZ"),
    (855, 857, "AZ"),
    (859, 860, "AZ"),
    (863, 865, "AZ"),
    (870, 871, "NM"),
    (873, 875, "NM"),
    (877, 884, "NM"),
    (885, 885, "TX"),
    (889, 891, "NV"),
    (893, 895, "NV"),
    (897, 898, "NV"),
    (900, 908, "CA"),
    (910, 928, "CA"),
    (930, 961, "CA"),
    (967, 968, "HI"),
    (969, 969, "GU"),
    (970, 979, "OR"),
    (980, 986, "WA"),
    (988, 994, "WA"),
    (995, 999, "AK"),
];

// ---------------------------------------------------------------------------
// The registry.

const DIGITS: PostalFormat = PostalFormat::Compact;

static COUNTRIES: &[Country] = &[
    Country {
        code: "US",
        name: "United States",
        regions: US_REGIONS,
        region_aliases: &[],
        postal_pattern: r"^\d{5}(-\d{4})?$",
        postal_format: PostalFormat::Hyphenated { at: 5, digits: 9 },
        postal_example: "90210",
    },
    Country {
        code: "CA",
        name: "Canada",
        regions: CA_REGIONS,
        region_aliases: &[("NF", "NL"), ("PQ", "QC")],
        // No D, F, I, O, Q or U anywhere; no W or Z in first position.
        postal_pattern: r"^[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] \d[ABCEGHJ-NPRSTV-Z]\d$",
        postal_format: PostalFormat::SpaceBeforeLast3,
        postal_example: "K1A 0B1",
    },
    Country {
        code: "MX",
        name: "Mexico",
        regions: MX_REGIONS,
        region_aliases: &[("DIF", "CMX")],
        postal_pattern: r"^\d{5}$",
        postal_format: DIGITS,
        postal_example: "06600",
    },
    Country {
        code: "BR",
        name: "Brazil",
        regions: BR_REGIONS,
        region_aliases: &[],
        postal_pattern: r"^\d{5}-\d{3}$",
        postal_format: PostalFormat::Hyphenated { at: 5, digits: 8 },
        postal_example: "01310-100",
    },
    Country {
        code: "CO",
        name: "Colombia",
        regions: CO_REGIONS,
        region_aliases: &[],
        postal_pattern: r"^\d{6}$",
        postal_format: DIGITS,
        postal_example: "110111",
    },
    Country {
        code: "AR",
        name: "Argentina",
        regions: AR_REGIONS,
        region_aliases: &[],
        // CPA (province letter, 4 digits, 3 letters) or the older 4 digits.
        postal_pattern: r"^([A-HJ-NP-Z]\d{4}[A-Z]{3}|\d{4})$",
        postal_format: DIGITS,
        postal_example: "C1002AAA",
    },
    Country {
        code: "CL",
        name: "Chile",
        regions: CL_REGIONS,
        region_aliases: &[],
        postal_pattern: r"^\d{7}$",
        postal_format: DIGITS,
        postal_example: "8320000",
    },
    Country {
        code: "PE",
        name: "Peru",
        regions: PE_REGIONS,
        region_aliases: &[],
        postal_pattern: r"^\d{5}$",
        postal_format: DIGITS,
        postal_example: "15001",
    },
    Country {
        code: "EC",
        name: "Ecuador",
        regions: EC_REGIONS,
        region_aliases: &[],
        postal_pattern: r"^\d{6}$",
        postal_format: DIGITS,
        postal_example: "170150",
    },
    Country {
        code: "GB",
        name: "United Kingdom",
        regions: GB_REGIONS,
        region_aliases: &[],
        postal_pattern: r"^([A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}|GIR 0AA)$",
        postal_format: PostalFormat::SpaceBeforeLast3,
        postal_example: "SW1A 1AA",
    },
    Country {
        code: "DE",
        name: "Germany",
        regions: DE_REGIONS,
        region_aliases: &[],
        postal_pattern: r"^\d{5}$",
        postal_format: DIGITS,
        postal_example: "10115",
    },
    Country {
        code: "FR",
        name: "France",
        regions: FR_REGIONS,
        region_aliases: &[],
        postal_pattern: r"^\d{5}$",
        postal_format: DIGITS,
        postal_example: "75008",
    },
    Country {
        code: "AU",
        name: "Australia",
        regions: AU_REGIONS,
        region_aliases: &[],
        postal_pattern: r"^\d{4}$",
        postal_format: DIGITS,
        postal_example: "2000",
    },
    Country {
        code: "IN",
        name: "India",
        regions: IN_REGIONS,
        // ISO 3166-2 changed these codes in 2023.
        region_aliases: &[("CT", "CG"), ("OR", "OD"), ("TG", "TS"), ("UT", "UK")],
        postal_pattern: r"^[1-9]\d{5}$",
        postal_format: DIGITS,
        postal_example: "110001",
    },
    Country {
        code: "JP",
        name: "Japan",
        regions: JP_REGIONS,
        region_aliases: &[],
        postal_pattern: r"^\d{3}-\d{4}$",
        postal_format: PostalFormat::Hyphenated { at: 3, digits: 7 },
        postal_example: "100-0001",
    },
    Country {
        code: "KR",
        name: "South Korea",
        regions: KR_REGIONS,
        // The national codes of Gangwon (2023) and Jeonbuk (2024) special
        // self-governing provinces.
        region_aliases: &[("51", "42"), ("52", "45")],
        postal_pattern: r"^\d{5}$",
        postal_format: DIGITS,
        postal_example: "03154",
    },
    Country {
        code: "SG",
        name: "Singapore",
        regions: SG_REGIONS,
        region_aliases: &[],
        postal_pattern: r"^\d{6}$",
        postal_format: DIGITS,
        postal_example: "018956",
    },
    Country {
        code: "AE",
        name: "United Arab Emirates",
        regions: AE_REGIONS,
        region_aliases: &[],
        postal_pattern: FREE_FORM_POSTAL,
        postal_format: PostalFormat::FreeForm,
        postal_example: "PO BOX 12345",
    },
    Country {
        code: "ZA",
        name: "South Africa",
        regions: ZA_REGIONS,
        region_aliases: &[("GT", "GP"), ("NL", "KZN")],
        postal_pattern: r"^\d{4}$",
        postal_format: DIGITS,
        postal_example: "2001",
    },
    Country {
        code: "NG",
        name: "Nigeria",
        regions: NG_REGIONS,
        region_aliases: &[],
        postal_pattern: r"^\d{6}$",
        postal_format: DIGITS,
        postal_example: "100001",
    },
    Country {
        code: "KE",
        name: "Kenya",
        regions: KE_REGIONS,
        region_aliases: &[],
        postal_pattern: r"^\d{5}$",
        postal_format: DIGITS,
        postal_example: "00100",
    },
    Country {
        code: "GH",
        name: "Ghana",
        regions: GH_REGIONS,
        region_aliases: &[],
        postal_pattern: FREE_FORM_POSTAL,
        postal_format: PostalFormat::FreeForm,
        postal_example: "GA-184-1234",
    },
    Country {
        code: "EG",
        name: "Egypt",
        regions: EG_REGIONS,
        region_aliases: &[],
        postal_pattern: r"^\d{5}$",
        postal_format: DIGITS,
        postal_example: "11511",
    },
    Country {
        code: "TZ",
        name: "Tanzania",
        regions: TZ_REGIONS,
        region_aliases: &[],
        postal_pattern: r"^\d{5}$",
        postal_format: DIGITS,
        postal_example: "11101",
    },
    Country {
        code: "MA",
        name: "Morocco",
        regions: MA_REGIONS,
        region_aliases: &[],
        postal_pattern: r"^\d{5}$",
        postal_format: DIGITS,
        postal_example: "20250",
    },
];

/// Countries without a postal-code system: 1–12 letters, digits, spaces or
/// hyphens, starting and ending with a letter or digit (a P.O. box number,
/// a GhanaPostGPS address such as `GA-184-1234`).
const FREE_FORM_POSTAL: &str = r"^[A-Z0-9]([A-Z0-9 -]{0,10}[A-Z0-9])?$";

type Regions = &'static [(&'static str, &'static str)];

/// 50 states, DC and the inhabited territories that have their own ZIP
/// prefixes (PR, VI, GU).
const US_REGIONS: Regions = &[
    ("AL", "Alabama"),
    ("AK", "Alaska"),
    ("AZ", "Arizona"),
    ("AR", "Arkansas"),
    ("CA", "California"),
    ("CO", "Colorado"),
    ("CT", "Connecticut"),
    ("DE", "Delaware"),
    ("DC", "District of Columbia"),
    ("FL", "Florida"),
    ("GA", "Georgia"),
    ("HI", "Hawaii"),
    ("ID", "Idaho"),
    ("IL", "Illinois"),
    ("IN", "Indiana"),
    ("IA", "Iowa"),
    ("KS", "Kansas"),
    ("KY", "Kentucky"),
    ("LA", "Louisiana"),
    ("ME", "Maine"),
    ("MD", "Maryland"),
    ("MA", "Massachusetts"),
    ("MI", "Michigan"),
    ("MN", "Minnesota"),
    ("MS", "Mississippi"),
    ("MO", "Missouri"),
    ("MT", "Montana"),
    ("NE", "Nebraska"),
    ("NV", "Nevada"),
    ("NH", "New Hampshire"),
    ("NJ", "New Jersey"),
    ("NM", "New Mexico"),
    ("NY", "New York"),
    ("NC", "North Carolina"),
    ("ND", "North Dakota"),
    ("OH", "Ohio"),
    ("OK", "Oklahoma"),
    ("OR", "Oregon"),
    ("PA", "Pennsylvania"),
    ("RI", "Rhode Island"),
    ("SC", "South Carolina"),
    ("SD", "South Dakota"),
    ("TN", "Tennessee"),
    ("TX", "Texas"),
    ("UT", "Utah"),
    ("VT", "Vermont"),
    ("VA", "Virginia"),
    ("WA", "Washington"),
    ("WV", "West Virginia"),
    ("WI", "Wisconsin"),
    ("WY", "Wyoming"),
    ("PR", "Puerto Rico"),
    ("VI", "U.S. Virgin Islands"),
    ("GU", "Guam"),
];

const CA_REGIONS: Regions = &[
    ("AB", "Alberta"),
    ("BC", "British Columbia"),
    ("MB", "Manitoba"),
    ("NB", "New Brunswick"),
    ("NL", "Newfoundland and Labrador"),
    ("NS", "Nova Scotia"),
    ("NT", "Northwest Territories"),
    ("NU", "Nunavut"),
    ("ON", "Ontario"),
    ("PE", "Prince Edward Island"),
    ("QC", "Quebec"),
    ("SK", "Saskatchewan"),
    ("YT", "Yukon"),
];

const MX_REGIONS: Regions = &[
    ("AGU", "Aguascalientes"),
    ("BCN", "Baja California"),
    ("BCS", "Baja California Sur"),
    ("CAM", "Campeche"),
    ("CHP", "Chiapas"),
    ("CHH", "Chihuahua"),
    ("CMX", "Ciudad de México"),
    ("COA", "Coahuila"),
    ("COL", "Colima"),
    ("DUR", "Durango"),
    ("GUA", "Guanajuato"),
    ("GRO", "Guerrero"),
    ("HID", "Hidalgo"),
    ("JAL", "Jalisco"),
    ("MEX", "México"),
    ("MIC", "Michoacán"),
    ("MOR", "Morelos"),
    ("NAY", "Nayarit"),
    ("NLE", "Nuevo León"),
    ("OAX", "Oaxaca"),
    ("PUE", "Puebla"),
    ("QUE", "Querétaro"),
    ("ROO", "Quintana Roo"),
    ("SLP", "San Luis Potosí"),
    ("SIN", "Sinaloa"),
    ("SON", "Sonora"),
    ("TAB", "Tabasco"),
    ("TAM", "Tamaulipas"),
    ("TLA", "Tlaxcala"),
    ("VER", "Veracruz"),
    ("YUC", "Yucatán"),
    ("ZAC", "Zacatecas"),
];

const BR_REGIONS: Regions = &[
    ("AC", "Acre"),
    ("AL", "Alagoas"),
    ("AP", "Amapá"),
    ("AM", "Amazonas"),
    ("BA", "Bahia"),
    ("CE", "Ceará"),
    ("DF", "Distrito Federal"),
    ("ES", "Espírito Santo"),
    ("GO", "Goiás"),
    ("MA", "Maranhão"),
    ("MT", "Mato Grosso"),
    ("MS", "Mato Grosso do Sul"),
    ("MG", "Minas Gerais"),
    ("PA", "Pará"),
    ("PB", "Paraíba"),
    ("PR", "Paraná"),
    ("PE", "Pernambuco"),
    ("PI", "Piauí"),
    ("RJ", "Rio de Janeiro"),
    ("RN", "Rio Grande do Norte"),
    ("RS", "Rio Grande do Sul"),
    ("RO", "Rondônia"),
    ("RR", "Roraima"),
    ("SC", "Santa Catarina"),
    ("SP", "São Paulo"),
    ("SE", "Sergipe"),
    ("TO", "Tocantins"),
];

const CO_REGIONS: Regions = &[
    ("AMA", "Amazonas"),
    ("ANT", "Antioquia"),
    ("ARA", "Arauca"),
    ("ATL", "Atlántico"),
    ("BOL", "Bolívar"),
    ("BOY", "Boyacá"),
    ("CAL", "Caldas"),
    ("CAQ", "Caquetá"),
    ("CAS", "Casanare"),
    ("CAU", "Cauca"),
    ("CES", "Cesar"),
    ("CHO", "Chocó"),
    ("COR", "Córdoba"),
    ("CUN", "Cundinamarca"),
    ("DC", "Bogotá, Distrito Capital"),
    ("GUA", "Guainía"),
    ("GUV", "Guaviare"),
    ("HUI", "Huila"),
    ("LAG", "La Guajira"),
    ("MAG", "Magdalena"),
    ("MET", "Meta"),
    ("NAR", "Nariño"),
    ("NSA", "Norte de Santander"),
    ("PUT", "Putumayo"),
    ("QUI", "Quindío"),
    ("RIS", "Risaralda"),
    ("SAP", "San Andrés, Providencia y Santa Catalina"),
    ("SAN", "Santander"),
    ("SUC", "Sucre"),
    ("TOL", "Tolima"),
    ("VAC", "Valle del Cauca"),
    ("VAU", "Vaupés"),
    ("VID", "Vichada"),
];

/// The ISO letters are also the first letter of a CPA postal code.
const AR_REGIONS: Regions = &[
    ("A", "Salta"),
    ("B", "Buenos Aires"),
    ("C", "Ciudad Autónoma de Buenos Aires"),
    ("D", "San Luis"),
    ("E", "Entre Ríos"),
    ("F", "La Rioja"),
    ("G", "Santiago del Estero"),
    ("H", "Chaco"),
    ("J", "San Juan"),
    ("K", "Catamarca"),
    ("L", "La Pampa"),
    ("M", "Mendoza"),
    ("N", "Misiones"),
    ("P", "Formosa"),
    ("Q", "Neuquén"),
    ("R", "Río Negro"),
    ("S", "Santa Fe"),
    ("T", "Tucumán"),
    ("U", "Chubut"),
    ("V", "Tierra del Fuego"),
    ("W", "Corrientes"),
    ("X", "Córdoba"),
    ("Y", "Jujuy"),
    ("Z", "Santa Cruz"),
];

const CL_REGIONS: Regions = &[
    ("AI", "Aysén"),
    ("AN", "Antofagasta"),
    ("AP", "Arica y Parinacota"),
    ("AR", "La Araucanía"),
    ("AT", "Atacama"),
    ("BI", "Biobío"),
    ("CO", "Coquimbo"),
    ("LI", "Libertador General Bernardo O'Higgins"),
    ("LL", "Los Lagos"),
    ("LR", "Los Ríos"),
    ("MA", "Magallanes"),
    ("ML", "Maule"),
    ("NB", "Ñuble"),
    ("RM", "Región Metropolitana de Santiago"),
    ("TA", "Tarapacá"),
    ("VS", "Valparaíso"),
];

const PE_REGIONS: Regions = &[
    ("AMA", "Amazonas"),
    ("ANC", "Áncash"),
    ("APU", "Apurímac"),
    ("ARE", "Arequipa"),
    ("AYA", "Ayacucho"),
    ("CAJ", "Cajamarca"),
    ("CAL", "El Callao"),
    ("CUS", "Cusco"),
    ("HUV", "Huancavelica"),
    ("HUC", "Huánuco"),
    ("ICA", "Ica"),
    ("JUN", "Junín"),
    ("LAL", "La Libertad"),
    ("LAM", "Lambayeque"),
    ("LIM", "Lima"),
    ("LMA", "Municipalidad Metropolitana de Lima"),
    ("LOR", "Loreto"),
    ("MDD", "Madre de Dios"),
    ("MOQ", "Moquegua"),
    ("PAS", "Pasco"),
    ("PIU", "Piura"),
    ("PUN", "Puno"),
    ("SAM", "San Martín"),
    ("TAC", "Tacna"),
    ("TUM", "Tumbes"),
    ("UCA", "Ucayali"),
];

const EC_REGIONS: Regions = &[
    ("A", "Azuay"),
    ("B", "Bolívar"),
    ("C", "Carchi"),
    ("D", "Orellana"),
    ("E", "Esmeraldas"),
    ("F", "Cañar"),
    ("G", "Guayas"),
    ("H", "Chimborazo"),
    ("I", "Imbabura"),
    ("L", "Loja"),
    ("M", "Manabí"),
    ("N", "Napo"),
    ("O", "El Oro"),
    ("P", "Pichincha"),
    ("R", "Los Ríos"),
    ("S", "Morona Santiago"),
    ("SD", "Santo Domingo de los Tsáchilas"),
    ("SE", "Santa Elena"),
    ("T", "Tungurahua"),
    ("U", "Sucumbíos"),
    ("W", "Galápagos"),
    ("X", "Cotopaxi"),
    ("Y", "Pastaza"),
    ("Z", "Zamora Chinchipe"),
];

/// The four nations (ISO 3166-2:GB country codes).
const GB_REGIONS: Regions = &[("ENG", "England"), ("SCT", "Scotland"), ("WLS", "Wales"), ("NIR", "Northern Ireland")];

const DE_REGIONS: Regions = &[
    ("BW", "Baden-Württemberg"),
    ("BY", "Bayern"),
    ("BE", "Berlin"),
    ("BB", "Brandenburg"),
    ("HB", "Bremen"),
    ("HH", "Hamburg"),
    ("HE", "Hessen"),
    ("MV", "Mecklenburg-Vorpommern"),
    ("NI", "Niedersachsen"),
    ("NW", "Nordrhein-Westfalen"),
    ("RP", "Rheinland-Pfalz"),
    ("SL", "Saarland"),
    ("SN", "Sachsen"),
    ("ST", "Sachsen-Anhalt"),
    ("SH", "Schleswig-Holstein"),
    ("TH", "Thüringen"),
];

/// The 13 metropolitan regions (Corsica's ISO code is `20R`) and the five
/// overseas regions, by their department numbers.
const FR_REGIONS: Regions = &[
    ("ARA", "Auvergne-Rhône-Alpes"),
    ("BFC", "Bourgogne-Franche-Comté"),
    ("BRE", "Bretagne"),
    ("CVL", "Centre-Val de Loire"),
    ("20R", "Corse"),
    ("GES", "Grand Est"),
    ("HDF", "Hauts-de-France"),
    ("IDF", "Île-de-France"),
    ("NOR", "Normandie"),
    ("NAQ", "Nouvelle-Aquitaine"),
    ("OCC", "Occitanie"),
    ("PDL", "Pays de la Loire"),
    ("PAC", "Provence-Alpes-Côte d'Azur"),
    ("971", "Guadeloupe"),
    ("972", "Martinique"),
    ("973", "Guyane"),
    ("974", "La Réunion"),
    ("976", "Mayotte"),
];

const AU_REGIONS: Regions = &[
    ("ACT", "Australian Capital Territory"),
    ("NSW", "New South Wales"),
    ("NT", "Northern Territory"),
    ("QLD", "Queensland"),
    ("SA", "South Australia"),
    ("TAS", "Tasmania"),
    ("VIC", "Victoria"),
    ("WA", "Western Australia"),
];

/// 28 states and 8 union territories.
const IN_REGIONS: Regions = &[
    ("AP", "Andhra Pradesh"),
    ("AR", "Arunachal Pradesh"),
    ("AS", "Assam"),
    ("BR", "Bihar"),
    ("CG", "Chhattisgarh"),
    ("GA", "Goa"),
    ("GJ", "Gujarat"),
    ("HR", "Haryana"),
    ("HP", "Himachal Pradesh"),
    ("JH", "Jharkhand"),
    ("KA", "Karnataka"),
    ("KL", "Kerala"),
    ("MP", "Madhya Pradesh"),
    ("MH", "Maharashtra"),
    ("MN", "Manipur"),
    ("ML", "Meghalaya"),
    ("MZ", "Mizoram"),
    ("NL", "Nagaland"),
    ("OD", "Odisha"),
    ("PB", "Punjab"),
    ("RJ", "Rajasthan"),
    ("SK", "Sikkim"),
    ("TN", "Tamil Nadu"),
    ("TS", "Telangana"),
    ("TR", "Tripura"),
    ("UP", "Uttar Pradesh"),
    ("UK", "Uttarakhand"),
    ("WB", "West Bengal"),
    ("AN", "Andaman and Nicobar Islands"),
    ("CH", "Chandigarh"),
    ("DH", "Dadra and Nagar Haveli and Daman and Diu"),
    ("DL", "Delhi"),
    ("JK", "Jammu and Kashmir"),
    ("LA", "Ladakh"),
    ("LD", "Lakshadweep"),
    ("PY", "Puducherry"),
];

const JP_REGIONS: Regions = &[
    ("01", "Hokkaido"),
    ("02", "Aomori"),
    ("03", "Iwate"),
    ("04", "Miyagi"),
    ("05", "Akita"),
    ("06", "Yamagata"),
    ("07", "Fukushima"),
    ("08", "Ibaraki"),
    ("09", "Tochigi"),
    ("10", "Gunma"),
    ("11", "Saitama"),
    ("12", "Chiba"),
    ("13", "Tokyo"),
    ("14", "Kanagawa"),
    ("15", "Niigata"),
    ("16", "Toyama"),
    ("17", "Ishikawa"),
    ("18", "Fukui"),
    ("19", "Yamanashi"),
    ("20", "Nagano"),
    ("21", "Gifu"),
    ("22", "Shizuoka"),
    ("23", "Aichi"),
    ("24", "Mie"),
    ("25", "Shiga"),
    ("26", "Kyoto"),
    ("27", "Osaka"),
    ("28", "Hyogo"),
    ("29", "Nara"),
    ("30", "Wakayama"),
    ("31", "Tottori"),
    ("32", "Shimane"),
    ("33", "Okayama"),
    ("34", "Hiroshima"),
    ("35", "Yamaguchi"),
    ("36", "Tokushima"),
    ("37", "Kagawa"),
    ("38", "Ehime"),
    ("39", "Kochi"),
    ("40", "Fukuoka"),
    ("41", "Saga"),
    ("42", "Nagasaki"),
    ("43", "Kumamoto"),
    ("44", "Oita"),
    ("45", "Miyazaki"),
    ("46", "Kagoshima"),
    ("47", "Okinawa"),
];

const KR_REGIONS: Regions = &[
    ("11", "Seoul"),
    ("26", "Busan"),
    ("27", "Daegu"),
    ("28", "Incheon"),
    ("29", "Gwangju"),
    ("30", "Daejeon"),
    ("31", "Ulsan"),
    ("41", "Gyeonggi"),
    ("42", "Gangwon"),
    ("43", "North Chungcheong"),
    ("44", "South Chungcheong"),
    ("45", "North Jeolla"),
    ("46", "South Jeolla"),
    ("47", "North Gyeongsang"),
    ("48", "South Gyeongsang"),
    ("49", "Jeju"),
    ("50", "Sejong"),
];

/// The five Community Development Council districts.
const SG_REGIONS: Regions = &[
    ("01", "Central Singapore"),
    ("02", "North East"),
    ("03", "North West"),
    ("04", "South East"),
    ("05", "South West"),
];

const AE_REGIONS: Regions = &[
    ("AZ", "Abu Dhabi"),
    ("AJ", "Ajman"),
    ("DU", "Dubai"),
    ("FU", "Fujairah"),
    ("RK", "Ras al-Khaimah"),
    ("SH", "Sharjah"),
    ("UQ", "Umm al-Quwain"),
];

const ZA_REGIONS: Regions = &[
    ("EC", "Eastern Cape"),
    ("FS", "Free State"),
    ("GP", "Gauteng"),
    ("KZN", "KwaZulu-Natal"),
    ("LP", "Limpopo"),
    ("MP", "Mpumalanga"),
    ("NW", "North West"),
    ("NC", "Northern Cape"),
    ("WC", "Western Cape"),
];

/// 36 states and the Federal Capital Territory.
const NG_REGIONS: Regions = &[
    ("AB", "Abia"),
    ("AD", "Adamawa"),
    ("AK", "Akwa Ibom"),
    ("AN", "Anambra"),
    ("BA", "Bauchi"),
    ("BY", "Bayelsa"),
    ("BE", "Benue"),
    ("BO", "Borno"),
    ("CR", "Cross River"),
    ("DE", "Delta"),
    ("EB", "Ebonyi"),
    ("ED", "Edo"),
    ("EK", "Ekiti"),
    ("EN", "Enugu"),
    ("FC", "Federal Capital Territory"),
    ("GO", "Gombe"),
    ("IM", "Imo"),
    ("JI", "Jigawa"),
    ("KD", "Kaduna"),
    ("KN", "Kano"),
    ("KT", "Katsina"),
    ("KE", "Kebbi"),
    ("KO", "Kogi"),
    ("KW", "Kwara"),
    ("LA", "Lagos"),
    ("NA", "Nasarawa"),
    ("NI", "Niger"),
    ("OG", "Ogun"),
    ("ON", "Ondo"),
    ("OS", "Osun"),
    ("OY", "Oyo"),
    ("PL", "Plateau"),
    ("RI", "Rivers"),
    ("SO", "Sokoto"),
    ("TA", "Taraba"),
    ("YO", "Yobe"),
    ("ZA", "Zamfara"),
];

/// The 47 counties.
const KE_REGIONS: Regions = &[
    ("01", "Baringo"),
    ("02", "Bomet"),
    ("03", "Bungoma"),
    ("04", "Busia"),
    ("05", "Elgeyo-Marakwet"),
    ("06", "Embu"),
    ("07", "Garissa"),
    ("08", "Homa Bay"),
    ("09", "Isiolo"),
    ("10", "Kajiado"),
    ("11", "Kakamega"),
    ("12", "Kericho"),
    ("13", "Kiambu"),
    ("14", "Kilifi"),
    ("15", "Kirinyaga"),
    ("16", "Kisii"),
    ("17", "Kisumu"),
    ("18", "Kitui"),
    ("19", "Kwale"),
    ("20", "Laikipia"),
    ("21", "Lamu"),
    ("22", "Machakos"),
    ("23", "Makueni"),
    ("24", "Mandera"),
    ("25", "Marsabit"),
    ("26", "Meru"),
    ("27", "Migori"),
    ("28", "Mombasa"),
    ("29", "Murang'a"),
    ("30", "Nairobi City"),
    ("31", "Nakuru"),
    ("32", "Nandi"),
    ("33", "Narok"),
    ("34", "Nyamira"),
    ("35", "Nyandarua"),
    ("36", "Nyeri"),
    ("37", "Samburu"),
    ("38", "Siaya"),
    ("39", "Taita-Taveta"),
    ("40", "Tana River"),
    ("41", "Tharaka-Nithi"),
    ("42", "Trans Nzoia"),
    ("43", "Turkana"),
    ("44", "Uasin Gishu"),
    ("45", "Vihiga"),
    ("46", "Wajir"),
    ("47", "West Pokot"),
];

/// The 16 regions since 2019.
const GH_REGIONS: Regions = &[
    ("AF", "Ahafo"),
    ("AH", "Ashanti"),
    ("BO", "Bono"),
    ("BE", "Bono East"),
    ("CP", "Central"),
    ("EP", "Eastern"),
    ("AA", "Greater Accra"),
    ("NE", "North East"),
    ("NP", "Northern"),
    ("OT", "Oti"),
    ("SV", "Savannah"),
    ("UE", "Upper East"),
    ("UW", "Upper West"),
    ("TV", "Volta"),
    ("WP", "Western"),
    ("WN", "Western North"),
];

const EG_REGIONS: Regions = &[
    ("ALX", "Alexandria"),
    ("ASN", "Aswan"),
    ("AST", "Asyut"),
    ("BA", "Red Sea"),
    ("BH", "Beheira"),
    ("BNS", "Beni Suef"),
    ("C", "Cairo"),
    ("DK", "Dakahlia"),
    ("DT", "Damietta"),
    ("FYM", "Faiyum"),
    ("GH", "Gharbia"),
    ("GZ", "Giza"),
    ("IS", "Ismailia"),
    ("JS", "South Sinai"),
    ("KB", "Qalyubia"),
    ("KFS", "Kafr el-Sheikh"),
    ("KN", "Qena"),
    ("LX", "Luxor"),
    ("MN", "Minya"),
    ("MNF", "Monufia"),
    ("MT", "Matrouh"),
    ("PTS", "Port Said"),
    ("SHG", "Sohag"),
    ("SHR", "Sharqia"),
    ("SIN", "North Sinai"),
    ("SUZ", "Suez"),
    ("WAD", "New Valley"),
];

const TZ_REGIONS: Regions = &[
    ("01", "Arusha"),
    ("02", "Dar es Salaam"),
    ("03", "Dodoma"),
    ("04", "Iringa"),
    ("05", "Kagera"),
    ("06", "Pemba North"),
    ("07", "Zanzibar North"),
    ("08", "Kigoma"),
    ("09", "Kilimanjaro"),
    ("10", "Pemba South"),
    ("11", "Zanzibar South"),
    ("12", "Lindi"),
    ("13", "Mara"),
    ("14", "Mbeya"),
    ("15", "Zanzibar West"),
    ("16", "Morogoro"),
    ("17", "Mtwara"),
    ("18", "Mwanza"),
    ("19", "Pwani"),
    ("20", "Rukwa"),
    ("21", "Ruvuma"),
    ("22", "Shinyanga"),
    ("23", "Singida"),
    ("24", "Tabora"),
    ("25", "Tanga"),
    ("26", "Manyara"),
    ("27", "Geita"),
    ("28", "Katavi"),
    ("29", "Njombe"),
    ("30", "Simiyu"),
    ("31", "Songwe"),
];

/// The 12 regions since 2015.
const MA_REGIONS: Regions = &[
    ("01", "Tanger-Tétouan-Al Hoceïma"),
    ("02", "L'Oriental"),
    ("03", "Fès-Meknès"),
    ("04", "Rabat-Salé-Kénitra"),
    ("05", "Béni Mellal-Khénifra"),
    ("06", "Casablanca-Settat"),
    ("07", "Marrakech-Safi"),
    ("08", "Drâa-Tafilalet"),
    ("09", "Souss-Massa"),
    ("10", "Guelmim-Oued Noun"),
    ("11", "Laâyoune-Sakia El Hamra"),
    ("12", "Dakhla-Oued Ed-Dahab"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(country: &str) -> GeoInput {
        GeoInput { country: country.into(), ..GeoInput::default() }
    }

    fn us(region: &str, zip: &str) -> GeoInput {
        GeoInput { region: Some(region.into()), postal_code: Some(zip.into()), ..geo("US") }
    }

    fn postal(country: &str, code: &str) -> Result<Option<String>, GeoError> {
        validate(&GeoInput { postal_code: Some(code.into()), ..geo(country) }).map(|g| g.postal_code)
    }

    const SERVED: [&str; 25] = [
        "US", "CA", "MX", "BR", "CO", "AR", "CL", "PE", "EC", "GB", "DE", "FR", "AU", "IN", "JP", "KR", "SG", "AE",
        "ZA", "NG", "KE", "GH", "EG", "TZ", "MA",
    ];

    #[test]
    fn registry_serves_the_spec_countries() {
        assert_eq!(countries().len(), 25);
        for code in SERVED {
            let c = country(code).unwrap_or_else(|| panic!("{code} registered"));
            assert_eq!(c.code, code);
            assert_eq!(country(&code.to_lowercase()).map(|c| c.code), Some(code));
        }
        assert_eq!(country(" gb ").map(|c| c.code), Some("GB"));
        assert_eq!(country("uk").map(|c| c.code), Some("GB"));
        assert!(country("XX").is_none());
        assert!(country("").is_none());
    }

    #[test]
    fn region_tables_are_consistent() {
        let expected_counts = [
            ("US", 54),
            ("CA", 13),
            ("MX", 32),
            ("BR", 27),
            ("CO", 33),
            ("AR", 24),
            ("CL", 16),
            ("PE", 26),
            ("EC", 24),
            ("GB", 4),
            ("DE", 16),
            ("FR", 18),
            ("AU", 8),
            ("IN", 36),
            ("JP", 47),
            ("KR", 17),
            ("SG", 5),
            ("AE", 7),
            ("ZA", 9),
            ("NG", 37),
            ("KE", 47),
            ("GH", 16),
            ("EG", 27),
            ("TZ", 31),
            ("MA", 12),
        ];
        for (code, n) in expected_counts {
            let c = country(code).expect("registered");
            assert_eq!(c.regions.len(), n, "{code} region count");
        }
        for c in countries() {
            let mut codes: Vec<&str> = c.regions.iter().map(|(r, _)| *r).collect();
            codes.sort_unstable();
            codes.dedup();
            assert_eq!(codes.len(), c.regions.len(), "{}: duplicate region", c.code);
            for (r, name) in c.regions {
                assert!(!name.is_empty());
                assert!(
                    r.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
                    "{}-{r} is upper case",
                    c.code
                );
            }
            for (alias, target) in c.region_aliases {
                assert!(c.regions.iter().any(|(r, _)| r == target), "{}: {alias}", c.code);
                assert!(!c.regions.iter().any(|(r, _)| r == alias), "{}: {alias}", c.code);
            }
            assert!(POSTAL_REGEXES.contains_key(c.code), "{}: pattern compiles", c.code);
            assert_eq!(
                c.normalise_postal_code(c.postal_example).as_deref(),
                Some(c.postal_example),
                "{}: example is valid and normalised",
                c.code
            );
        }
        let jp = country("JP").expect("registered");
        assert_eq!(jp.region_name("13"), Some("Tokyo"));
        assert_eq!(jp.region_name("47"), Some("Okinawa"));
        let india = country("IN").expect("registered");
        assert_eq!(india.region("tg"), Some("TS"));
        assert_eq!(india.region("IN-UP"), Some("UP"));
        assert_eq!(country("US").and_then(|c| c.region("us-dc")), Some("DC"));
        assert_eq!(country("US").and_then(|c| c.region("CA-ON")), None);
    }

    #[test]
    fn zip_table_is_sorted_disjoint_and_names_registered_states() {
        let us = country("US").expect("registered");
        for w in US_ZIP3.windows(2) {
            assert!(w[0].0 <= w[0].1 && w[0].1 < w[1].0, "{:?} then {:?}", w[0], w[1]);
        }
        for (_, hi, state) in US_ZIP3 {
            assert!(*hi <= 999);
            assert!(us.regions.iter().any(|(r, _)| r == state), "{state}");
        }
        for (region, _) in us.regions {
            assert!(
                (0..=999).any(|n| us_zip_prefix_state(&format!("{n:03}")) == Some(*region)),
                "{region} has a ZIP prefix"
            );
        }
    }

    #[test]
    fn zip_prefixes_map_to_their_states() {
        let known = [
            ("902", "CA"),
            ("100", "NY"),
            ("021", "MA"),
            ("606", "IL"),
            ("770", "TX"),
            ("331", "FL"),
            ("981", "WA"),
            ("200", "DC"),
            ("201", "VA"),
            ("005", "NY"),
            ("885", "TX"),
            ("733", "TX"),
            ("569", "DC"),
            ("967", "HI"),
            ("995", "AK"),
            ("063", "CT"),
            ("055", "MA"),
            ("028", "RI"),
            ("039", "ME"),
            ("054", "VT"),
            ("070", "NJ"),
            ("089", "NJ"),
            ("150", "PA"),
            ("197", "DE"),
            ("206", "MD"),
            ("220", "VA"),
            ("247", "WV"),
            ("270", "NC"),
            ("290", "SC"),
            ("300", "GA"),
            ("398", "GA"),
            ("341", "FL"),
            ("349", "FL"),
            ("350", "AL"),
            ("370", "TN"),
            ("386", "MS"),
            ("400", "KY"),
            ("430", "OH"),
            ("460", "IN"),
            ("480", "MI"),
            ("500", "IA"),
            ("530", "WI"),
            ("550", "MN"),
            ("570", "SD"),
            ("580", "ND"),
            ("590", "MT"),
            ("630", "MO"),
            ("660", "KS"),
            ("680", "NE"),
            ("700", "LA"),
            ("716", "AR"),
            ("730", "OK"),
            ("739", "OK"),
            ("753", "TX"),
            ("772", "TX"),
            ("800", "CO"),
            ("820", "WY"),
            ("832", "ID"),
            ("840", "UT"),
            ("850", "AZ"),
            ("870", "NM"),
            ("884", "NM"),
            ("889", "NV"),
            ("970", "OR"),
            ("006", "PR"),
            ("008", "VI"),
            ("009", "PR"),
            ("969", "GU"),
        ];
        for (prefix, state) in known {
            assert_eq!(us_zip_prefix_state(prefix), Some(state), "{prefix}");
        }
    }

    #[test]
    fn unassigned_and_military_zip_prefixes_map_to_nothing() {
        let unassigned = [
            "000", "001", "002", "003", "004", "213", "269", "343", "345", "348", "353", "419", "428", "429", "517",
            "518", "519", "529", "533", "536", "552", "568", "578", "579", "589", "621", "632", "642", "643", "659",
            "663", "682", "694", "695", "696", "697", "698", "699", "702", "709", "715", "732", "742", "771", "817",
            "818", "819", "839", "848", "849", "854", "858", "861", "862", "866", "867", "868", "869", "872", "876",
            "886", "887", "888", "892", "896", "899", "909", "929", "987",
        ];
        let military = [
            "090", "091", "092", "093", "094", "095", "096", "097", "098", "099", "340", "962", "963", "964", "965",
            "966",
        ];
        for prefix in unassigned.iter().chain(&military) {
            assert_eq!(us_zip_prefix_state(prefix), None, "{prefix}");
        }
        for bad in ["", "90", "9021", "9O2", "-12", "+12"] {
            assert_eq!(us_zip_prefix_state(bad), None, "{bad:?}");
        }
        let assigned = (0..=999).filter(|n| us_zip_prefix_state(&format!("{n:03}")).is_some()).count();
        assert_eq!(assigned, 1000 - unassigned.len() - military.len());
    }

    #[test]
    fn validate_normalises() {
        let g = validate(&GeoInput {
            country: " us ".into(),
            region: Some(" ca ".into()),
            postal_code: Some(" 90210 ".into()),
            city: Some("  Beverly Hills ".into()),
            lat: Some(34.09),
            lng: Some(-118.41),
        })
        .expect("valid");
        assert_eq!(
            g,
            Geo {
                country: "US".into(),
                region: Some("CA".into()),
                postal_code: Some("90210".into()),
                city: Some("Beverly Hills".into()),
                lat: Some(34.09),
                lng: Some(-118.41),
            }
        );
        let bare = validate(&GeoInput {
            region: Some("  ".into()),
            postal_code: Some("".into()),
            city: Some("   ".into()),
            ..geo("de")
        })
        .expect("blank parts are absent");
        assert_eq!(
            bare,
            Geo { country: "DE".into(), region: None, postal_code: None, city: None, lat: None, lng: None }
        );
        let aliased = validate(&GeoInput { region: Some("tg".into()), ..geo("IN") }).expect("valid");
        assert_eq!(aliased.region.as_deref(), Some("TS"));
        let prefixed = validate(&GeoInput { region: Some("US-ny".into()), ..geo("US") }).expect("valid");
        assert_eq!(prefixed.region.as_deref(), Some("NY"));
    }

    #[test]
    fn postal_codes_are_normalised_per_country() {
        let ok = [
            ("US", "90210", "90210"),
            ("US", "90210-1234", "90210-1234"),
            ("US", "902101234", "90210-1234"),
            ("CA", "k1a0b1", "K1A 0B1"),
            ("CA", "K1A  0B1", "K1A 0B1"),
            ("CA", "x0a 0h0", "X0A 0H0"),
            ("GB", "sw1a1aa", "SW1A 1AA"),
            ("GB", "M1 1AE", "M1 1AE"),
            ("GB", "ec1a 1bb", "EC1A 1BB"),
            ("GB", "gir0aa", "GIR 0AA"),
            ("BR", "01310100", "01310-100"),
            ("BR", "01310-100", "01310-100"),
            ("JP", "1000001", "100-0001"),
            ("JP", "100-0001", "100-0001"),
            ("IN", "110 001", "110001"),
            ("AR", "c1002aaa", "C1002AAA"),
            ("AR", "1002", "1002"),
            ("MX", "06600", "06600"),
            ("DE", "10115", "10115"),
            ("FR", "75008", "75008"),
            ("AU", "2000", "2000"),
            ("KE", "00100", "00100"),
            ("AE", "po box  12345", "PO BOX 12345"),
            ("GH", "ga-184-1234", "GA-184-1234"),
        ];
        for (c, raw, normalised) in ok {
            assert_eq!(postal(c, raw), Ok(Some(normalised.into())), "{c} {raw:?}");
        }
        let bad = [
            ("US", "9021"),
            ("US", "90210-12"),
            ("US", "ABCDE"),
            ("US", "90210 1234 5"),
            ("CA", "D1A 0B1"),
            ("CA", "K1A 0B"),
            ("CA", "W1A 0B1"),
            ("GB", "SW1A"),
            ("GB", "12345"),
            ("BR", "0131010"),
            ("JP", "100-001"),
            ("IN", "011001"),
            ("IN", "11001"),
            ("AR", "I1002AAA"),
            ("DE", "1011"),
            ("DE", "１０１１５"),
            ("AU", "20000"),
            ("AE", "-123"),
            ("AE", "ABCDEFGHIJKLM"),
            ("GH", "GA_184"),
        ];
        for (c, raw) in bad {
            assert_eq!(
                postal(c, raw),
                Err(GeoError::InvalidPostalCode { country: c.into(), postal_code: raw.trim().into() }),
                "{c} {raw:?}"
            );
        }
        assert!(postal("DE", &"1".repeat(10_000)).is_err());
        assert!(country("AE").is_some_and(|c| !c.has_postal_codes()));
        assert!(country("US").is_some_and(Country::has_postal_codes));
    }

    #[test]
    fn every_error_variant() {
        let cases: [(GeoInput, GeoError, &str, &str); 9] = [
            (geo("XX"), GeoError::UnknownCountry("XX".into()), "unknown_country", "geo.country"),
            (geo("  "), GeoError::UnknownCountry(String::new()), "unknown_country", "geo.country"),
            (
                GeoInput { region: Some("zz".into()), ..geo("US") },
                GeoError::UnknownRegion { country: "US".into(), region: "ZZ".into() },
                "unknown_region",
                "geo.region",
            ),
            (
                GeoInput { region: Some("ON".into()), ..geo("US") },
                GeoError::UnknownRegion { country: "US".into(), region: "ON".into() },
                "unknown_region",
                "geo.region",
            ),
            (
                us("CA", "00001"),
                GeoError::InvalidPostalCode { country: "US".into(), postal_code: "00001".into() },
                "invalid_postal_code",
                "geo.postal_code",
            ),
            (
                us("NY", "90210"),
                GeoError::PostalRegionMismatch { postal_code: "90210".into(), region: "NY".into() },
                "postal_region_mismatch",
                "geo.postal_code",
            ),
            (
                GeoInput { lat: Some(91.0), lng: Some(0.0), ..geo("US") },
                GeoError::InvalidCoordinates,
                "invalid_coordinates",
                "geo.lat",
            ),
            (GeoInput { city: Some("x".repeat(101)), ..geo("US") }, GeoError::CityTooLong, "invalid_city", "geo.city"),
            (
                us("AE", "09001"),
                GeoError::UnknownRegion { country: "US".into(), region: "AE".into() },
                "unknown_region",
                "geo.region",
            ),
        ];
        for (input, err, code, field) in cases {
            let got = validate(&input).expect_err("invalid");
            assert_eq!(got, err, "{input:?}");
            assert_eq!(got.code(), code);
            assert_eq!(got.field(), field);
            assert!(!got.to_string().is_empty());
        }
    }

    #[test]
    fn us_zip_must_be_assigned_and_match_the_state() {
        assert!(validate(&us("CA", "90210-1234")).is_ok());
        assert!(validate(&us("ma", "02139")).is_ok());
        assert!(validate(&us("VA", "20166")).is_ok(), "201 is Dulles, VA");
        assert!(validate(&us("DC", "20500")).is_ok());
        assert!(validate(&us("PR", "00901")).is_ok());
        assert!(matches!(validate(&us("DC", "20166")), Err(GeoError::PostalRegionMismatch { .. })));
        let military = GeoInput { postal_code: Some("09001".into()), ..geo("US") };
        assert!(matches!(validate(&military), Err(GeoError::InvalidPostalCode { .. })));
        let no_region = GeoInput { postal_code: Some("77001".into()), ..geo("US") };
        assert_eq!(validate(&no_region).map(|g| g.postal_code), Ok(Some("77001".into())));
        // Outside the US a postal code is only checked for its format.
        let ca = GeoInput { region: Some("QC".into()), postal_code: Some("K1A 0B1".into()), ..geo("CA") };
        assert!(validate(&ca).is_ok());
    }

    #[test]
    fn coordinates_and_city_bounds() {
        let with = |lat: Option<f64>, lng: Option<f64>| validate(&GeoInput { lat, lng, ..geo("US") });
        assert!(with(Some(90.0), Some(180.0)).is_ok());
        assert!(with(Some(-90.0), Some(-180.0)).is_ok());
        for (lat, lng) in [
            (Some(0.0), None),
            (None, Some(0.0)),
            (Some(-90.1), Some(0.0)),
            (Some(0.0), Some(180.5)),
            (Some(f64::NAN), Some(0.0)),
            (Some(0.0), Some(f64::INFINITY)),
        ] {
            assert_eq!(with(lat, lng), Err(GeoError::InvalidCoordinates), "{lat:?} {lng:?}");
        }
        let city = |c: String| validate(&GeoInput { city: Some(c), ..geo("JP") });
        assert!(city("a".repeat(100)).is_ok());
        assert!(city(format!("  {}  ", "a".repeat(100))).is_ok(), "trimmed first");
        assert!(city("東".repeat(100)).is_ok(), "counted in characters");
        assert_eq!(city("a".repeat(101)), Err(GeoError::CityTooLong));
    }

    #[test]
    fn errors_do_not_echo_huge_input() {
        let long = "Q".repeat(5_000);
        match validate(&geo(&long)) {
            Err(GeoError::UnknownCountry(c)) => assert_eq!(c.len(), MAX_ECHO_CHARS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn geo_input_rejects_unknown_fields() {
        let ok: GeoInput = serde_json::from_str(r#"{"country":"US","postal_code":"90210"}"#).expect("valid");
        assert_eq!(ok.postal_code.as_deref(), Some("90210"));
        assert!(serde_json::from_str::<GeoInput>(r#"{"country":"US","zip":"90210"}"#).is_err());
        assert!(serde_json::from_str::<GeoInput>(r#"{"region":"CA"}"#).is_err());
    }

    #[test]
    fn postal_region_matching() {
        assert_eq!(postal_matches_region("US", "90210", "CA"), Some(true));
        assert_eq!(postal_matches_region("us", "90210-1234", "ca"), Some(true));
        assert_eq!(postal_matches_region("US", "90210", "NY"), Some(false));
        assert_eq!(postal_matches_region("US", "00001", "NY"), Some(false));
        assert_eq!(postal_matches_region("US", "bogus", "NY"), Some(false));
        assert_eq!(postal_matches_region("US", "90210", "ZZ"), Some(false));
        assert_eq!(postal_matches_region("CA", "K1A 0B1", "ON"), Some(true));
        assert_eq!(postal_matches_region("CA", "h2x1y4", "QC"), Some(true));
        assert_eq!(postal_matches_region("CA", "K1A 0B1", "QC"), Some(false));
        assert_eq!(postal_matches_region("CA", "X0A 0H0", "NU"), Some(true));
        assert_eq!(postal_matches_region("CA", "X1A 2P8", "NT"), Some(true));
        assert_eq!(postal_matches_region("CA", "X1A 2P8", "NU"), Some(false));
        assert_eq!(postal_matches_region("CA", "V6B 1A1", "BC"), Some(true));
        assert_eq!(postal_matches_region("AR", "C1002AAA", "C"), Some(true));
        assert_eq!(postal_matches_region("AR", "X5000ABC", "C"), Some(false));
        assert_eq!(postal_matches_region("AR", "1002", "C"), None);
        assert_eq!(postal_matches_region("GB", "SW1A 1AA", "ENG"), None);
        assert_eq!(postal_matches_region("DE", "10115", "BE"), None);
        assert_eq!(postal_matches_region("XX", "10115", "BE"), None);
    }
}
