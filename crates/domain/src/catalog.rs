//! The seeded vertical catalogue: 10 roots with 4 children each (SPEC §2),
//! plus three `proposed` children ([`proposed`]) that are defined but not seeded.
//!
//! Field sets follow `reference/verticals.md`. Because a child inherits every
//! field of its parent and may not redeclare one, a root declares only the
//! fields that fit **all** of its children with the same `required` flag
//! (plus, as optional, fields that are optional wherever the reference lists
//! them and still make sense for the other children). A reference root field
//! that some children lack, or that they need with a different `required`
//! flag, is pushed down into the children that list it, so every child's
//! resolved schema carries exactly the reference's fields with the
//! reference's `required` flags, and a child never inherits a required field
//! its form does not ask for. The per-root comments below say what moved.
//!
//! Flags: non-PII `select` and `boolean` fields are filterable and biddable;
//! `number` fields are biddable only (list search is by equality, which is
//! useless on free numbers); `text` and `date` fields are neither. The
//! contact block every root declares (`full_name`, `email`, `phone`,
//! `street_address`) is PII.
//!
//! Floor prices are integer micro-USDC, per ISO country with a `"*"` default
//! on every root; children override only the countries where their market
//! differs from the parent's.

use std::collections::BTreeMap;

use crate::money::Money;
use crate::vertical::{Compliance, FieldDef, FieldType, VerticalDef, VerticalStatus};

const REQUIRED: bool = true;
const OPTIONAL: bool = false;

// ---------------------------------------------------------------------------
// Shared option lists.

const CREDIT_BANDS: &[&str] = &["excellent_750_plus", "good_700_749", "fair_650_699", "below_650"];
const BILL_BANDS: &[&str] = &["under_100", "100_200", "200_300", "300_400", "400_plus"];
const TIMELINES: &[&str] = &["immediately", "within_1_month", "1_3_months", "3_6_months", "6_plus_months"];
const HOME_PROPERTY_TYPES: &[&str] =
    &["single_family", "townhouse", "condo", "multi_family", "mobile_home", "commercial"];
const MORTGAGE_PROPERTY_TYPES: &[&str] =
    &["single_family", "townhouse", "condo", "multi_family_2_4_units", "manufactured_home"];
const OCCUPANCY: &[&str] = &["primary_residence", "second_home", "investment_property"];
const SERVICE_URGENCY: &[&str] = &["emergency", "within_24_hours", "within_1_week", "within_1_month", "flexible"];
const SERVICE_BUDGETS: &[&str] = &["under_500", "500_1000", "1000_2500", "2500_5000", "5000_10000", "10000_plus"];
const HOME_SIZES: &[&str] = &["under_1500_sqft", "1500_2500_sqft", "2500_3500_sqft", "3500_plus_sqft"];
const ROOF_TYPES: &[&str] = &["asphalt_shingle", "metal", "tile", "slate", "wood_shake", "flat", "other"];
const ROOF_MATERIALS: &[&str] =
    &["asphalt_shingle", "metal", "tile", "slate", "wood_shake", "flat_membrane", "other", "not_sure"];
const ROOF_STORIES: &[&str] = &["1_story", "2_stories", "3_plus_stories"];
const VEHICLE_TYPES: &[&str] =
    &["sedan", "suv", "pickup_truck", "minivan", "coupe", "hatchback", "convertible", "motorcycle", "other"];
const AUTO_COVERAGE: &[&str] = &["state_minimum", "liability_only", "full_coverage", "premium"];
const DRIVING_RECORDS: &[&str] = &["clean", "one_ticket", "one_accident", "multiple_incidents", "dui_dwi"];
const AUTO_CARRIERS: &[&str] = &[
    "state_farm",
    "geico",
    "progressive",
    "allstate",
    "usaa",
    "liberty_mutual",
    "farmers",
    "nationwide",
    "other",
    "none",
];
const COMPANY_SIZES: &[&str] = &["1_10", "11_50", "51_200", "201_500", "501_1000", "1001_5000", "5001_plus"];
const INDUSTRIES: &[&str] = &[
    "technology",
    "financial_services",
    "healthcare",
    "retail_ecommerce",
    "manufacturing",
    "education",
    "professional_services",
    "real_estate",
    "media_entertainment",
    "nonprofit",
    "government",
    "other",
];
const SAAS_BUDGETS: &[&str] = &["under_5k", "5k_25k", "25k_100k", "100k_250k", "250k_plus"];
const SAAS_USERS: &[&str] = &["1_5", "6_20", "21_50", "51_200", "201_plus"];
const LEGAL_URGENCY: &[&str] = &["immediately", "within_1_week", "within_1_month", "just_researching"];
const CONSULTATION_TYPES: &[&str] = &["phone", "video", "in_person", "no_preference"];

// ---------------------------------------------------------------------------
// Field constructors.

fn field(key: &str, label: &str, kind: FieldType, required: bool) -> FieldDef {
    FieldDef {
        key: key.to_owned(),
        label: label.to_owned(),
        kind,
        required,
        options: Vec::new(),
        min: None,
        max: None,
        pii: false,
        filterable: false,
        biddable: false,
    }
}

/// Free text, not searchable or biddable.
fn text(key: &str, label: &str, required: bool) -> FieldDef {
    field(key, label, FieldType::Text, required)
}

/// A calendar date, not searchable or biddable.
fn date(key: &str, label: &str, required: bool) -> FieldDef {
    field(key, label, FieldType::Date, required)
}

/// One of `options`; filterable and biddable.
fn select(key: &str, label: &str, required: bool, options: &[&str]) -> FieldDef {
    FieldDef {
        options: options.iter().map(|o| (*o).to_owned()).collect(),
        filterable: true,
        biddable: true,
        ..field(key, label, FieldType::Select, required)
    }
}

/// Yes/no; filterable and biddable.
fn boolean(key: &str, label: &str, required: bool) -> FieldDef {
    FieldDef { filterable: true, biddable: true, ..field(key, label, FieldType::Boolean, required) }
}

/// A bounded number; biddable (range filters in rules), not filterable.
fn number(key: &str, label: &str, required: bool, min: f64, max: f64) -> FieldDef {
    FieldDef { min: Some(min), max: Some(max), biddable: true, ..field(key, label, FieldType::Number, required) }
}

/// The contact block every root declares; all PII.
fn contact_block() -> Vec<FieldDef> {
    let pii = |f: FieldDef| FieldDef { pii: true, ..f };
    vec![
        pii(text("full_name", "Full name", REQUIRED)),
        pii(field("email", "E-mail address", FieldType::Email, REQUIRED)),
        pii(field("phone", "Phone number", FieldType::Phone, REQUIRED)),
        pii(text("street_address", "Street address", OPTIONAL)),
    ]
}

// ---------------------------------------------------------------------------
// Vertical constructors.

fn floors(entries: &[(&str, i64)]) -> BTreeMap<String, Money> {
    entries.iter().map(|(country, micros)| ((*country).to_owned(), Money::from_micros(*micros))).collect()
}

fn root(
    slug: &str,
    name: &str,
    compliance: Compliance,
    fields: Vec<FieldDef>,
    floor_prices: &[(&str, i64)],
) -> VerticalDef {
    let mut all = contact_block();
    all.extend(fields);
    VerticalDef {
        slug: slug.to_owned(),
        name: name.to_owned(),
        parent: None,
        status: VerticalStatus::Active,
        aliases: Vec::new(),
        fields: all,
        compliance,
        floor_prices: floors(floor_prices),
    }
}

fn child(parent: &str, leaf: &str, name: &str, fields: Vec<FieldDef>, floor_prices: &[(&str, i64)]) -> VerticalDef {
    VerticalDef {
        slug: format!("{parent}.{leaf}"),
        name: name.to_owned(),
        parent: Some(parent.to_owned()),
        status: VerticalStatus::Active,
        aliases: Vec::new(),
        fields,
        compliance: Compliance::default(),
        floor_prices: floors(floor_prices),
    }
}

/// Marks a vertical as not tradeable in `geos` (`"CC"` or `"CC-RR"`).
fn restricted(mut def: VerticalDef, geos: &[&str]) -> VerticalDef {
    def.compliance.restricted_geos = geos.iter().map(|g| (*g).to_owned()).collect();
    def
}

fn compliance(requires_tcpa: bool, requires_kyc: bool) -> Compliance {
    Compliance { requires_tcpa, requires_kyc, restricted_geos: Vec::new() }
}

/// The 50 seeded verticals (10 roots, 4 children each), all active, roots
/// listed before their children.
pub fn seed() -> Vec<VerticalDef> {
    [
        solar(),
        mortgage(),
        roofing(),
        insurance(),
        home_services(),
        b2b_saas(),
        real_estate(),
        auto(),
        legal(),
        financial_services(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

// ---------------------------------------------------------------------------
// Solar.
//
// Root keeps `electric_bill` (required by every child) and `credit_score`
// (optional wherever listed; sensible for battery storage too).
// `own_or_rent`, `roof_type`, `roof_age` and `timeline` are pushed down to
// residential and commercial: battery storage and community solar do not ask
// about the roof, and community solar is open to renters.

fn solar_site_fields(own_or_rent_options: &[&str]) -> Vec<FieldDef> {
    vec![
        select("own_or_rent", "Own or rent", REQUIRED, own_or_rent_options),
        select("roof_type", "Roof type", REQUIRED, ROOF_TYPES),
        number("roof_age", "Roof age (years)", OPTIONAL, 0.0, 100.0),
        select("timeline", "Installation timeline", REQUIRED, TIMELINES),
    ]
}

fn solar() -> Vec<VerticalDef> {
    let root = root(
        "solar",
        "Solar",
        compliance(true, false),
        vec![
            select("electric_bill", "Monthly electric bill (USD)", REQUIRED, BILL_BANDS),
            select("credit_score", "Credit score", OPTIONAL, CREDIT_BANDS),
        ],
        &[
            ("*", 15_000_000),
            ("US", 60_000_000),
            ("CA", 45_000_000),
            ("GB", 35_000_000),
            ("DE", 40_000_000),
            ("FR", 30_000_000),
            ("AU", 35_000_000),
            ("MX", 12_000_000),
            ("BR", 12_000_000),
            ("ZA", 10_000_000),
        ],
    );
    let mut residential_fields = solar_site_fields(&["own", "rent"]);
    residential_fields.extend([
        number("sqft", "Home size (sq ft)", OPTIONAL, 100.0, 50_000.0),
        select(
            "system_size",
            "Desired system size",
            OPTIONAL,
            &["under_5_kw", "5_8_kw", "8_12_kw", "12_plus_kw", "not_sure"],
        ),
        select("shading", "Roof shading", OPTIONAL, &["no_shade", "some_shade", "heavy_shade", "not_sure"]),
    ]);
    let mut commercial_fields = solar_site_fields(&["own", "lease"]);
    commercial_fields.extend([
        number("building_sqft", "Building size (sq ft)", REQUIRED, 500.0, 10_000_000.0),
        select(
            "building_type",
            "Building type",
            REQUIRED,
            &[
                "office",
                "retail",
                "warehouse",
                "industrial",
                "agricultural",
                "multifamily",
                "nonprofit",
                "government",
                "other",
            ],
        ),
        number("monthly_energy_kwh", "Monthly energy use (kWh)", OPTIONAL, 0.0, 100_000_000.0),
    ]);
    vec![
        root,
        child(
            "solar",
            "residential",
            "Residential Solar",
            residential_fields,
            &[("US", 85_000_000), ("CA", 55_000_000), ("AU", 40_000_000)],
        ),
        child(
            "solar",
            "commercial",
            "Commercial Solar",
            commercial_fields,
            &[("*", 30_000_000), ("US", 90_000_000), ("CA", 70_000_000), ("GB", 60_000_000), ("DE", 65_000_000)],
        ),
        child(
            "solar",
            "battery_storage",
            "Solar Battery Storage",
            vec![
                boolean("existing_solar", "Already has solar panels", REQUIRED),
                select(
                    "battery_goal",
                    "Main goal",
                    REQUIRED,
                    &["backup_power", "bill_savings", "energy_independence", "time_of_use_shifting", "off_grid"],
                ),
                select(
                    "battery_budget",
                    "Battery budget (USD)",
                    REQUIRED,
                    &["under_10k", "10k_15k", "15k_20k", "20k_plus", "not_sure"],
                ),
            ],
            &[("US", 55_000_000)],
        ),
        child(
            "solar",
            "community",
            "Community Solar",
            vec![select(
                "interest_type",
                "Interest",
                REQUIRED,
                &["subscribe", "buy_panels", "host_a_project", "learn_more"],
            )],
            &[("US", 40_000_000)],
        ),
    ]
}

// ---------------------------------------------------------------------------
// Mortgage.
//
// Root keeps only `credit_score` (optional wherever listed). `property_type`
// and `occupancy` are required for purchase, refinance and HELOC but absent
// from the reverse-mortgage form, so they are declared by those three
// children instead of the root.

fn mortgage_property_fields() -> Vec<FieldDef> {
    vec![
        select("property_type", "Property type", REQUIRED, MORTGAGE_PROPERTY_TYPES),
        select("occupancy", "Occupancy", REQUIRED, OCCUPANCY),
    ]
}

fn mortgage() -> Vec<VerticalDef> {
    let root = root(
        "mortgage",
        "Mortgage",
        compliance(true, true),
        vec![select("credit_score", "Credit score", OPTIONAL, CREDIT_BANDS)],
        &[
            ("*", 15_000_000),
            ("US", 80_000_000),
            ("CA", 55_000_000),
            ("GB", 45_000_000),
            ("AU", 50_000_000),
            ("DE", 35_000_000),
            ("FR", 30_000_000),
            ("MX", 15_000_000),
        ],
    );
    let mut purchase = mortgage_property_fields();
    purchase.extend([
        boolean("first_time_buyer", "First-time home buyer", OPTIONAL),
        select(
            "purchase_timeline",
            "Purchase timeline",
            REQUIRED,
            &["under_contract", "making_offers", "within_3_months", "3_6_months", "6_plus_months", "researching"],
        ),
        number("purchase_price", "Purchase price (USD)", REQUIRED, 10_000.0, 100_000_000.0),
        select(
            "down_payment",
            "Down payment",
            REQUIRED,
            &["under_5_percent", "5_10_percent", "10_20_percent", "20_percent_plus"],
        ),
        select("loan_type", "Loan type", OPTIONAL, &["conventional", "fha", "va", "usda", "jumbo", "not_sure"]),
        boolean("pre_approved", "Already pre-approved", OPTIONAL),
    ]);
    let mut refinance = mortgage_property_fields();
    refinance.extend([
        select(
            "refinance_goal",
            "Refinance goal",
            REQUIRED,
            &["lower_rate", "lower_payment", "cash_out", "shorten_term", "remove_pmi", "consolidate_debt"],
        ),
        number("current_rate", "Current interest rate (%)", REQUIRED, 0.0, 30.0),
        number("loan_balance", "Loan balance (USD)", REQUIRED, 0.0, 100_000_000.0),
        number("home_value", "Estimated home value (USD)", OPTIONAL, 10_000.0, 100_000_000.0),
        number("cash_out_amount", "Cash-out amount (USD)", OPTIONAL, 0.0, 50_000_000.0),
        text("current_lender", "Current lender", OPTIONAL),
    ]);
    let mut heloc = mortgage_property_fields();
    heloc.extend([
        number("home_value", "Estimated home value (USD)", REQUIRED, 10_000.0, 100_000_000.0),
        number("mortgage_balance", "Mortgage balance (USD)", REQUIRED, 0.0, 100_000_000.0),
        number("credit_needed", "Credit line needed (USD)", REQUIRED, 1_000.0, 10_000_000.0),
        select(
            "purpose",
            "Purpose",
            REQUIRED,
            &["home_improvement", "debt_consolidation", "education", "major_purchase", "emergency_fund", "other"],
        ),
    ]);
    vec![
        root,
        child("mortgage", "purchase", "Home Purchase Mortgage", purchase, &[("US", 95_000_000), ("CA", 65_000_000)]),
        child("mortgage", "refinance", "Mortgage Refinance", refinance, &[("US", 75_000_000)]),
        child("mortgage", "heloc", "Home Equity Line of Credit", heloc, &[("US", 70_000_000)]),
        child(
            "mortgage",
            "reverse",
            "Reverse Mortgage",
            vec![
                // Reverse mortgages start at 62 (HECM); some proprietary
                // products accept borrowers from 55.
                number("borrower_age", "Youngest borrower's age", REQUIRED, 55.0, 120.0),
                number("home_value", "Estimated home value (USD)", REQUIRED, 10_000.0, 100_000_000.0),
                number("mortgage_balance", "Mortgage balance (USD)", OPTIONAL, 0.0, 100_000_000.0),
                select(
                    "goal",
                    "Main goal",
                    REQUIRED,
                    &[
                        "supplement_income",
                        "pay_off_mortgage",
                        "cover_healthcare",
                        "home_improvements",
                        "buy_a_home",
                        "financial_safety_net",
                    ],
                ),
            ],
            &[("US", 110_000_000)],
        ),
    ]
}

// ---------------------------------------------------------------------------
// Roofing.
//
// Root keeps `stories` (required by every child). `property_type` and
// `roof_material` are pushed down to repair, replacement and inspection: the
// gutter form asks neither.

fn roof_fields() -> Vec<FieldDef> {
    vec![
        select("property_type", "Property type", REQUIRED, HOME_PROPERTY_TYPES),
        select("roof_material", "Current roof material", REQUIRED, ROOF_MATERIALS),
    ]
}

fn roofing() -> Vec<VerticalDef> {
    let root = root(
        "roofing",
        "Roofing",
        Compliance::default(),
        vec![select("stories", "Stories", REQUIRED, ROOF_STORIES)],
        &[
            ("*", 10_000_000),
            ("US", 45_000_000),
            ("CA", 35_000_000),
            ("GB", 25_000_000),
            ("AU", 30_000_000),
            ("DE", 20_000_000),
        ],
    );
    let mut repair = roof_fields();
    repair.extend([
        select(
            "damage_type",
            "Damage",
            REQUIRED,
            &["leak", "missing_shingles", "hail_damage", "wind_damage", "fallen_tree", "flashing", "sagging", "other"],
        ),
        select("urgency", "Urgency", REQUIRED, SERVICE_URGENCY),
        boolean("insurance_claim", "Filing an insurance claim", OPTIONAL),
    ]);
    let mut replacement = roof_fields();
    replacement.extend([
        number("roof_age", "Roof age (years)", OPTIONAL, 0.0, 100.0),
        select("home_size", "Home size", REQUIRED, HOME_SIZES),
        select("budget", "Budget (USD)", OPTIONAL, &["under_10k", "10k_20k", "20k_30k", "30k_plus", "not_sure"]),
        select("preferred_material", "Preferred new material", OPTIONAL, ROOF_MATERIALS),
    ]);
    let mut inspection = roof_fields();
    inspection.extend([
        select(
            "inspection_reason",
            "Reason for inspection",
            REQUIRED,
            &[
                "buying_home",
                "selling_home",
                "insurance_requirement",
                "storm_damage",
                "suspected_leak",
                "routine_maintenance",
            ],
        ),
        number("roof_age", "Roof age (years)", OPTIONAL, 0.0, 100.0),
    ]);
    vec![
        root,
        child("roofing", "repair", "Roof Repair", repair, &[("US", 40_000_000)]),
        child("roofing", "replacement", "Roof Replacement", replacement, &[("US", 65_000_000), ("CA", 45_000_000)]),
        child("roofing", "inspection", "Roof Inspection", inspection, &[("US", 25_000_000)]),
        child(
            "roofing",
            "gutter",
            "Gutters",
            vec![
                select(
                    "gutter_service",
                    "Gutter service",
                    REQUIRED,
                    &["new_installation", "replacement", "repair", "cleaning", "gutter_guards"],
                ),
                number("linear_feet", "Length (linear feet)", OPTIONAL, 1.0, 10_000.0),
                select(
                    "gutter_material",
                    "Gutter material",
                    OPTIONAL,
                    &["aluminum", "vinyl", "steel", "copper", "not_sure"],
                ),
            ],
            &[("US", 20_000_000)],
        ),
    ]
}

// ---------------------------------------------------------------------------
// Insurance.
//
// The reference root fields do not fit the children: `insurance_type` merely
// repeats which child the lead is in, and only home insurance asks for a
// property type (pushed down to it). The root keeps `urgency` as an
// *optional* "coverage needed" field, which makes sense for every line.

fn insurance() -> Vec<VerticalDef> {
    let root = root(
        "insurance",
        "Insurance",
        compliance(true, false),
        vec![select(
            "urgency",
            "Coverage needed",
            OPTIONAL,
            &["immediately", "within_1_week", "within_1_month", "just_comparing"],
        )],
        &[
            ("*", 5_000_000),
            ("US", 30_000_000),
            ("CA", 22_000_000),
            ("GB", 15_000_000),
            ("DE", 15_000_000),
            ("AU", 18_000_000),
            ("MX", 6_000_000),
            ("ZA", 6_000_000),
        ],
    );
    vec![
        root,
        child(
            "insurance",
            "auto",
            "Auto Insurance",
            vec![
                select("vehicle_type", "Vehicle type", REQUIRED, VEHICLE_TYPES),
                number("vehicle_year", "Vehicle year", REQUIRED, 1950.0, 2027.0),
                select("coverage_type", "Coverage", REQUIRED, AUTO_COVERAGE),
                select("driving_record", "Driving record", REQUIRED, DRIVING_RECORDS),
                select(
                    "annual_mileage",
                    "Annual mileage",
                    OPTIONAL,
                    &["under_5000", "5000_10000", "10000_15000", "15000_20000", "20000_plus"],
                ),
                select("current_carrier", "Current carrier", OPTIONAL, AUTO_CARRIERS),
                boolean("multi_car", "Insuring more than one vehicle", OPTIONAL),
            ],
            &[("US", 25_000_000)],
        ),
        child(
            "insurance",
            "home",
            "Home Insurance",
            vec![
                select(
                    "property_type",
                    "Property type",
                    REQUIRED,
                    &["single_family", "townhouse", "condo", "multi_family", "mobile_home"],
                ),
                number("home_age", "Home age (years)", REQUIRED, 0.0, 400.0),
                number("sqft", "Home size (sq ft)", REQUIRED, 100.0, 50_000.0),
                select(
                    "coverage_type",
                    "Coverage",
                    REQUIRED,
                    &["homeowners_standard", "homeowners_comprehensive", "condo_unit", "renters", "landlord"],
                ),
                select(
                    "claims_history",
                    "Claims in the last 5 years",
                    REQUIRED,
                    &["no_claims", "1_claim", "2_claims", "3_plus_claims"],
                ),
            ],
            &[("US", 35_000_000)],
        ),
        child(
            "insurance",
            "life",
            "Life Insurance",
            vec![
                select(
                    "coverage_amount",
                    "Coverage amount (USD)",
                    REQUIRED,
                    &["under_100k", "100k_250k", "250k_500k", "500k_1m", "1m_plus"],
                ),
                select(
                    "policy_type",
                    "Policy type",
                    REQUIRED,
                    &["term", "whole", "universal", "final_expense", "not_sure"],
                ),
                number("applicant_age", "Applicant age", REQUIRED, 18.0, 100.0),
                select("health_status", "Health", REQUIRED, &["excellent", "good", "fair", "poor"]),
                boolean("smoker", "Smoker", REQUIRED),
            ],
            &[("US", 45_000_000), ("CA", 30_000_000)],
        ),
        child(
            "insurance",
            "health",
            "Health Insurance",
            vec![
                select(
                    "plan_type",
                    "Plan type",
                    REQUIRED,
                    &[
                        "individual",
                        "family",
                        "medicare_supplement",
                        "medicare_advantage",
                        "short_term",
                        "small_business",
                    ],
                ),
                number("household_size", "Household size", REQUIRED, 1.0, 20.0),
                select(
                    "income_range",
                    "Household income (USD/year)",
                    REQUIRED,
                    &["under_25k", "25k_50k", "50k_75k", "75k_100k", "100k_150k", "150k_plus"],
                ),
                select(
                    "current_coverage",
                    "Current coverage",
                    REQUIRED,
                    &["uninsured", "employer", "individual", "medicare", "medicaid", "cobra"],
                ),
                boolean("pre_existing_conditions", "Pre-existing conditions", REQUIRED),
            ],
            &[("US", 40_000_000)],
        ),
    ]
}

// ---------------------------------------------------------------------------
// Home services.
//
// Root keeps `property_type` and `urgency` (required by every child).
// `service_type` is declared by each trade with its own options (a single
// root list would mix plumbing and lawn-care services), and the proposed
// EV-charging and security children do not ask for it.

fn home_services() -> Vec<VerticalDef> {
    let root = root(
        "home_services",
        "Home Services",
        Compliance::default(),
        vec![
            select("property_type", "Property type", REQUIRED, HOME_PROPERTY_TYPES),
            select("urgency", "Urgency", REQUIRED, SERVICE_URGENCY),
        ],
        &[
            ("*", 6_000_000),
            ("US", 30_000_000),
            ("CA", 22_000_000),
            ("GB", 18_000_000),
            ("AU", 20_000_000),
            ("DE", 15_000_000),
        ],
    );
    vec![
        root,
        child(
            "home_services",
            "plumbing",
            "Plumbing",
            vec![
                select(
                    "service_type",
                    "Service",
                    REQUIRED,
                    &[
                        "leak_repair",
                        "drain_cleaning",
                        "water_heater",
                        "toilet_repair",
                        "fixture_installation",
                        "sewer_line",
                        "repiping",
                        "other",
                    ],
                ),
                text("problem_description", "Problem description", OPTIONAL),
                select("budget", "Budget (USD)", OPTIONAL, SERVICE_BUDGETS),
            ],
            &[("US", 30_000_000)],
        ),
        child(
            "home_services",
            "electrical",
            "Electrical",
            vec![
                select(
                    "service_type",
                    "Service",
                    REQUIRED,
                    &[
                        "repair",
                        "panel_upgrade",
                        "wiring",
                        "lighting",
                        "outlets_switches",
                        "generator",
                        "inspection",
                        "other",
                    ],
                ),
                select(
                    "project_scope",
                    "Project scope",
                    REQUIRED,
                    &["small_repair", "single_room", "multiple_rooms", "whole_home", "new_construction"],
                ),
                select("budget", "Budget (USD)", OPTIONAL, SERVICE_BUDGETS),
            ],
            &[("US", 35_000_000)],
        ),
        child(
            "home_services",
            "hvac",
            "Heating & Air Conditioning",
            vec![
                select(
                    "service_type",
                    "Service",
                    REQUIRED,
                    &["repair", "replacement", "new_installation", "maintenance", "duct_cleaning"],
                ),
                select(
                    "system_type",
                    "System type",
                    REQUIRED,
                    &[
                        "central_air",
                        "heat_pump",
                        "furnace",
                        "boiler",
                        "ductless_mini_split",
                        "window_unit",
                        "not_sure",
                    ],
                ),
                number("system_age", "System age (years)", OPTIONAL, 0.0, 100.0),
                select(
                    "fuel_type",
                    "Fuel",
                    OPTIONAL,
                    &["electric", "natural_gas", "propane", "oil", "other", "not_sure"],
                ),
            ],
            &[("US", 45_000_000), ("CA", 30_000_000)],
        ),
        child(
            "home_services",
            "landscaping",
            "Landscaping",
            vec![
                select(
                    "service_type",
                    "Service",
                    REQUIRED,
                    &["lawn_care", "landscape_design", "tree_service", "irrigation", "hardscaping", "yard_cleanup"],
                ),
                select(
                    "lot_size",
                    "Lot size",
                    REQUIRED,
                    &["under_quarter_acre", "quarter_to_half_acre", "half_to_1_acre", "1_plus_acres"],
                ),
                select("budget", "Budget (USD)", REQUIRED, SERVICE_BUDGETS),
            ],
            &[("US", 20_000_000)],
        ),
    ]
}

// ---------------------------------------------------------------------------
// B2B SaaS. Every child uses all four root fields as listed.

fn b2b_saas() -> Vec<VerticalDef> {
    let root = root(
        "b2b_saas",
        "B2B Software",
        Compliance::default(),
        vec![
            select("company_size", "Company size (employees)", REQUIRED, COMPANY_SIZES),
            select("industry", "Industry", REQUIRED, INDUSTRIES),
            select("budget", "Annual budget (USD)", REQUIRED, SAAS_BUDGETS),
            select("decision_timeline", "Decision timeline", REQUIRED, TIMELINES),
        ],
        &[
            ("*", 40_000_000),
            ("US", 120_000_000),
            ("CA", 90_000_000),
            ("GB", 85_000_000),
            ("DE", 85_000_000),
            ("FR", 75_000_000),
            ("AU", 80_000_000),
            ("SG", 70_000_000),
            ("JP", 70_000_000),
            ("IN", 25_000_000),
        ],
    );
    vec![
        root,
        child(
            "b2b_saas",
            "crm",
            "CRM Software",
            vec![
                select(
                    "current_solution",
                    "Current CRM",
                    REQUIRED,
                    &["none_spreadsheets", "salesforce", "hubspot", "microsoft_dynamics", "zoho", "pipedrive", "other"],
                ),
                select("users_needed", "Users", REQUIRED, SAAS_USERS),
                select(
                    "key_features",
                    "Most important feature",
                    OPTIONAL,
                    &[
                        "contact_management",
                        "pipeline_management",
                        "email_integration",
                        "reporting",
                        "automation",
                        "mobile_access",
                    ],
                ),
            ],
            &[("US", 150_000_000)],
        ),
        child(
            "b2b_saas",
            "analytics",
            "Analytics & BI Software",
            vec![
                select(
                    "data_sources",
                    "Main data source",
                    REQUIRED,
                    &["databases", "saas_apps", "spreadsheets", "data_warehouse", "event_streams", "mixed"],
                ),
                select(
                    "current_tool",
                    "Current tool",
                    OPTIONAL,
                    &["none", "spreadsheets", "tableau", "power_bi", "looker", "google_analytics", "other"],
                ),
                select("users_needed", "Users", REQUIRED, SAAS_USERS),
            ],
            &[("US", 140_000_000)],
        ),
        child(
            "b2b_saas",
            "marketing_automation",
            "Marketing Automation Software",
            vec![
                select(
                    "email_list_size",
                    "E-mail list size",
                    REQUIRED,
                    &["under_1k", "1k_10k", "10k_50k", "50k_250k", "250k_plus"],
                ),
                select(
                    "marketing_channels",
                    "Main channel",
                    REQUIRED,
                    &["email", "social", "paid_search", "content_seo", "sms", "multi_channel"],
                ),
                select(
                    "current_tool",
                    "Current tool",
                    OPTIONAL,
                    &["none", "mailchimp", "hubspot", "marketo", "pardot", "klaviyo", "activecampaign", "other"],
                ),
            ],
            &[("US", 120_000_000)],
        ),
        child(
            "b2b_saas",
            "hr_tech",
            "HR Software",
            vec![
                number("employee_count", "Employees", REQUIRED, 1.0, 5_000_000.0),
                select(
                    "modules_needed",
                    "Main module needed",
                    REQUIRED,
                    &["core_hr", "payroll", "recruiting", "performance", "benefits", "time_attendance", "full_suite"],
                ),
                select(
                    "current_system",
                    "Current system",
                    OPTIONAL,
                    &["none_spreadsheets", "adp", "workday", "bamboohr", "gusto", "paychex", "other"],
                ),
            ],
            &[("US", 130_000_000)],
        ),
    ]
}

// ---------------------------------------------------------------------------
// Real estate. Every child uses both root fields as listed; `property_type`
// lives in the residential and commercial children with their own options.

fn real_estate() -> Vec<VerticalDef> {
    let root = root(
        "real_estate",
        "Real Estate",
        Compliance::default(),
        vec![
            select(
                "transaction_type",
                "Transaction",
                REQUIRED,
                &["buy", "sell", "buy_and_sell", "rent", "rent_out", "invest"],
            ),
            select("timeline", "Timeline", REQUIRED, TIMELINES),
        ],
        &[
            ("*", 8_000_000),
            ("US", 40_000_000),
            ("CA", 30_000_000),
            ("GB", 25_000_000),
            ("AU", 30_000_000),
            ("AE", 30_000_000),
            ("MX", 10_000_000),
        ],
    );
    vec![
        root,
        child(
            "real_estate",
            "residential",
            "Residential Real Estate",
            vec![
                select(
                    "property_type",
                    "Property type",
                    REQUIRED,
                    &["single_family", "condo", "townhouse", "multi_family", "manufactured"],
                ),
                select(
                    "price_range",
                    "Price range (USD)",
                    REQUIRED,
                    &["under_200k", "200k_400k", "400k_600k", "600k_1m", "1m_2m", "2m_plus"],
                ),
                select(
                    "bedrooms",
                    "Bedrooms",
                    REQUIRED,
                    &["studio", "1_bedroom", "2_bedrooms", "3_bedrooms", "4_bedrooms", "5_plus_bedrooms"],
                ),
                boolean("pre_approved", "Pre-approved for a mortgage", OPTIONAL),
                select("financing", "Financing", OPTIONAL, &["cash", "conventional", "fha", "va", "not_sure"]),
            ],
            &[("US", 45_000_000)],
        ),
        child(
            "real_estate",
            "commercial",
            "Commercial Real Estate",
            vec![
                select(
                    "property_type",
                    "Property type",
                    REQUIRED,
                    &["office", "retail", "industrial", "warehouse", "multifamily", "mixed_use", "hospitality"],
                ),
                number("sqft_needed", "Space needed (sq ft)", REQUIRED, 100.0, 10_000_000.0),
                select("budget", "Budget (USD)", REQUIRED, &["under_500k", "500k_1m", "1m_5m", "5m_20m", "20m_plus"]),
                select("lease_buy", "Lease or buy", REQUIRED, &["lease", "buy", "either"]),
            ],
            &[("US", 90_000_000), ("*", 15_000_000)],
        ),
        child(
            "real_estate",
            "rental",
            "Rental Property",
            vec![
                number("unit_count", "Units", REQUIRED, 1.0, 10_000.0),
                boolean("management_needed", "Needs property management", REQUIRED),
                number("target_rent", "Target monthly rent (USD)", OPTIONAL, 0.0, 1_000_000.0),
                select(
                    "rental_type",
                    "Rental type",
                    REQUIRED,
                    &["long_term", "short_term", "vacation", "student", "corporate"],
                ),
            ],
            &[("US", 30_000_000)],
        ),
        child(
            "real_estate",
            "land",
            "Land",
            vec![
                select(
                    "acreage",
                    "Acreage",
                    REQUIRED,
                    &["under_1_acre", "1_5_acres", "5_20_acres", "20_100_acres", "100_plus_acres"],
                ),
                select(
                    "intended_use",
                    "Intended use",
                    REQUIRED,
                    &["build_home", "agricultural", "commercial_development", "recreational", "investment"],
                ),
                boolean("utilities_needed", "Needs utilities on site", REQUIRED),
                select(
                    "zoning_type",
                    "Zoning",
                    OPTIONAL,
                    &["residential", "agricultural", "commercial", "industrial", "mixed_use", "unzoned", "not_sure"],
                ),
            ],
            &[("US", 35_000_000)],
        ),
    ]
}

// ---------------------------------------------------------------------------
// Auto.
//
// No reference root field fits every child: `service_needed` repeats which
// child the lead is in, and `vehicle_type` is required by sales, repair and
// insurance but absent from the warranty form (which asks for make and model
// as text), so it is declared by those three children. The root carries the
// contact block only.

fn auto() -> Vec<VerticalDef> {
    let root = root(
        "auto",
        "Automotive",
        compliance(true, false),
        Vec::new(),
        &[
            ("*", 5_000_000),
            ("US", 25_000_000),
            ("CA", 18_000_000),
            ("GB", 15_000_000),
            ("DE", 15_000_000),
            ("AU", 15_000_000),
            ("MX", 6_000_000),
        ],
    );
    vec![
        root,
        child(
            "auto",
            "sales",
            "Car Sales",
            vec![
                select("purchase_type", "Purchase type", REQUIRED, &["new", "used", "certified_pre_owned", "lease"]),
                select("vehicle_type", "Vehicle type", REQUIRED, VEHICLE_TYPES),
                select("budget", "Budget (USD)", REQUIRED, &["under_15k", "15k_25k", "25k_40k", "40k_60k", "60k_plus"]),
                boolean("has_trade_in", "Has a trade-in", OPTIONAL),
                select("purchase_timeline", "Purchase timeline", REQUIRED, TIMELINES),
            ],
            &[("US", 30_000_000)],
        ),
        child(
            "auto",
            "warranty",
            "Extended Auto Warranty",
            vec![
                text("vehicle_make", "Vehicle make", REQUIRED),
                text("vehicle_model", "Vehicle model", REQUIRED),
                number("vehicle_year", "Vehicle year", REQUIRED, 1950.0, 2027.0),
                number("mileage", "Mileage", REQUIRED, 0.0, 1_000_000.0),
                select(
                    "warranty_type",
                    "Coverage wanted",
                    REQUIRED,
                    &["powertrain", "stated_component", "exclusionary", "bumper_to_bumper", "not_sure"],
                ),
            ],
            &[("US", 35_000_000)],
        ),
        child(
            "auto",
            "repair",
            "Auto Repair",
            vec![
                select("vehicle_type", "Vehicle type", REQUIRED, VEHICLE_TYPES),
                select(
                    "repair_type",
                    "Repair",
                    REQUIRED,
                    &[
                        "engine",
                        "transmission",
                        "brakes",
                        "electrical",
                        "suspension",
                        "body_collision",
                        "tires",
                        "maintenance",
                        "diagnostics",
                        "other",
                    ],
                ),
                select(
                    "urgency",
                    "Urgency",
                    REQUIRED,
                    &["vehicle_not_drivable", "within_24_hours", "within_1_week", "flexible"],
                ),
                text("problem_description", "Problem description", OPTIONAL),
            ],
            &[("US", 15_000_000)],
        ),
        child(
            "auto",
            "insurance",
            "Auto Insurance (via dealers)",
            vec![
                select("vehicle_type", "Vehicle type", REQUIRED, VEHICLE_TYPES),
                number("vehicle_year", "Vehicle year", REQUIRED, 1950.0, 2027.0),
                select("coverage_type", "Coverage", REQUIRED, AUTO_COVERAGE),
                select("driving_record", "Driving record", REQUIRED, DRIVING_RECORDS),
                select("current_carrier", "Current carrier", OPTIONAL, AUTO_CARRIERS),
            ],
            &[("US", 28_000_000)],
        ),
    ]
}

// ---------------------------------------------------------------------------
// Legal.
//
// Root keeps `urgency` and `consultation_type` (required by every child);
// `legal_area` is dropped because it only repeats which child the lead is in.
//
// Restricted: `legal.personal_injury` in GB, where paying for personal-injury
// referrals is banned (LASPO Act 2012, s. 56).

fn legal() -> Vec<VerticalDef> {
    let root = root(
        "legal",
        "Legal",
        compliance(true, false),
        vec![
            select("urgency", "Urgency", REQUIRED, LEGAL_URGENCY),
            select("consultation_type", "Consultation", REQUIRED, CONSULTATION_TYPES),
        ],
        &[
            ("*", 20_000_000),
            ("US", 120_000_000),
            ("CA", 80_000_000),
            ("GB", 70_000_000),
            ("AU", 75_000_000),
            ("DE", 60_000_000),
        ],
    );
    let personal_injury = restricted(
        child(
            "legal",
            "personal_injury",
            "Personal Injury",
            vec![
                select(
                    "injury_type",
                    "Injury",
                    REQUIRED,
                    &[
                        "car_accident",
                        "truck_accident",
                        "motorcycle_accident",
                        "slip_and_fall",
                        "medical_malpractice",
                        "workplace_injury",
                        "dog_bite",
                        "product_liability",
                        "wrongful_death",
                        "other",
                    ],
                ),
                select(
                    "injury_severity",
                    "Severity",
                    REQUIRED,
                    &["minor", "moderate", "severe", "catastrophic", "fatal"],
                ),
                select(
                    "estimated_case_value",
                    "Estimated case value (USD)",
                    OPTIONAL,
                    &["under_10k", "10k_50k", "50k_100k", "100k_500k", "500k_plus", "not_sure"],
                ),
                boolean("has_attorney", "Already has an attorney", REQUIRED),
                date("incident_date", "Date of the incident", REQUIRED),
            ],
            &[("US", 250_000_000), ("CA", 150_000_000)],
        ),
        &["GB"],
    );
    vec![
        root,
        personal_injury,
        child(
            "legal",
            "family",
            "Family Law",
            vec![
                select(
                    "case_type",
                    "Case",
                    REQUIRED,
                    &[
                        "divorce",
                        "child_custody",
                        "child_support",
                        "spousal_support",
                        "adoption",
                        "prenuptial_agreement",
                        "domestic_violence",
                        "paternity",
                    ],
                ),
                boolean("children_involved", "Children involved", REQUIRED),
                select("contested", "Contested", REQUIRED, &["contested", "uncontested", "not_sure"]),
                boolean("significant_assets", "Significant assets involved", OPTIONAL),
            ],
            &[("US", 90_000_000)],
        ),
        child(
            "legal",
            "immigration",
            "Immigration Law",
            vec![
                select(
                    "visa_type",
                    "Matter",
                    REQUIRED,
                    &[
                        "family_based",
                        "employment_based",
                        "student",
                        "asylum",
                        "green_card",
                        "citizenship",
                        "deportation_defense",
                        "daca",
                        "other",
                    ],
                ),
                select(
                    "current_status",
                    "Current status",
                    REQUIRED,
                    &[
                        "in_country_with_visa",
                        "in_country_without_status",
                        "outside_country",
                        "permanent_resident",
                        "pending_application",
                        "in_removal_proceedings",
                    ],
                ),
                boolean("has_deadline", "Has an upcoming deadline", REQUIRED),
            ],
            &[("US", 85_000_000)],
        ),
        child(
            "legal",
            "criminal_defense",
            "Criminal Defense",
            vec![
                select(
                    "charge_type",
                    "Charge",
                    REQUIRED,
                    &[
                        "dui_dwi",
                        "drug",
                        "assault",
                        "theft",
                        "domestic_violence",
                        "white_collar",
                        "traffic",
                        "weapons",
                        "sex_offense",
                        "other",
                    ],
                ),
                boolean("arraigned", "Already arraigned", REQUIRED),
                select(
                    "bail_status",
                    "Custody status",
                    OPTIONAL,
                    &["not_arrested", "in_custody", "released_on_bail", "released_on_recognizance"],
                ),
                boolean("prior_convictions", "Prior convictions", REQUIRED),
            ],
            &[("US", 110_000_000)],
        ),
    ]
}

// ---------------------------------------------------------------------------
// Financial services.
//
// Root keeps `timeline` and `current_advisor` as listed by every child;
// `service_type` is dropped because it only repeats which child the lead is
// in.
//
// Restricted: debt consolidation and credit repair in US-GA, where for-profit
// debt adjusting (O.C.G.A. § 18-5) and credit repair services (§ 16-9-59)
// are prohibited.

fn financial_services() -> Vec<VerticalDef> {
    let root = root(
        "financial_services",
        "Financial Services",
        compliance(true, true),
        vec![
            select("timeline", "Timeline", REQUIRED, TIMELINES),
            select(
                "current_advisor",
                "Current advisor",
                OPTIONAL,
                &["none", "bank", "independent_advisor", "online_service", "accountant", "other"],
            ),
        ],
        &[
            ("*", 10_000_000),
            ("US", 50_000_000),
            ("CA", 35_000_000),
            ("GB", 35_000_000),
            ("AU", 30_000_000),
            ("DE", 25_000_000),
            ("SG", 30_000_000),
            ("AE", 30_000_000),
        ],
    );
    let debt = restricted(
        child(
            "financial_services",
            "debt_consolidation",
            "Debt Consolidation",
            vec![
                select(
                    "total_debt",
                    "Total unsecured debt (USD)",
                    REQUIRED,
                    &["under_10k", "10k_20k", "20k_50k", "50k_100k", "100k_plus"],
                ),
                select(
                    "debt_type",
                    "Main type of debt",
                    REQUIRED,
                    &["credit_cards", "personal_loans", "medical_bills", "student_loans", "payday_loans", "mixed"],
                ),
                select(
                    "monthly_income",
                    "Monthly income (USD)",
                    REQUIRED,
                    &["under_2k", "2k_4k", "4k_6k", "6k_10k", "10k_plus"],
                ),
                boolean("behind_on_payments", "Behind on payments", REQUIRED),
            ],
            &[("US", 65_000_000)],
        ),
        &["US-GA"],
    );
    let credit_repair = restricted(
        child(
            "financial_services",
            "credit_repair",
            "Credit Repair",
            vec![
                select(
                    "current_score",
                    "Current credit score",
                    REQUIRED,
                    &["below_500", "500_579", "580_619", "620_679", "680_plus", "not_sure"],
                ),
                select(
                    "negative_items",
                    "Negative items on report",
                    REQUIRED,
                    &["1_3", "4_6", "7_10", "more_than_10", "not_sure"],
                ),
                select(
                    "goal",
                    "Goal",
                    REQUIRED,
                    &[
                        "buy_a_home",
                        "buy_a_car",
                        "lower_interest_rates",
                        "qualify_for_credit_card",
                        "rent_an_apartment",
                        "general_improvement",
                    ],
                ),
            ],
            &[("US", 40_000_000)],
        ),
        &["US-GA"],
    );
    vec![
        root,
        debt,
        child(
            "financial_services",
            "banking",
            "Banking",
            vec![
                select(
                    "account_type",
                    "Account type",
                    REQUIRED,
                    &["checking", "savings", "money_market", "certificate_of_deposit", "business_checking"],
                ),
                select(
                    "initial_deposit",
                    "Initial deposit (USD)",
                    OPTIONAL,
                    &["under_1k", "1k_10k", "10k_50k", "50k_250k", "250k_plus"],
                ),
                select(
                    "important_features",
                    "Most important feature",
                    REQUIRED,
                    &["no_fees", "high_yield", "mobile_banking", "branch_access", "atm_network", "sign_up_bonus"],
                ),
            ],
            &[("US", 30_000_000)],
        ),
        credit_repair,
        child(
            "financial_services",
            "tax_prep",
            "Tax Preparation",
            vec![
                select(
                    "tax_type",
                    "Return type",
                    REQUIRED,
                    &[
                        "individual",
                        "self_employed",
                        "small_business",
                        "corporate",
                        "partnership",
                        "nonprofit",
                        "estate_trust",
                    ],
                ),
                select(
                    "filing_status",
                    "Filing status",
                    REQUIRED,
                    &[
                        "single",
                        "married_filing_jointly",
                        "married_filing_separately",
                        "head_of_household",
                        "qualifying_surviving_spouse",
                    ],
                ),
                select("complexity", "Complexity", REQUIRED, &["simple", "moderate", "complex"]),
                boolean("has_back_taxes", "Owes back taxes", OPTIONAL),
            ],
            &[("US", 35_000_000)],
        ),
    ]
}

// ---------------------------------------------------------------------------
// Proposed verticals.
//
// `reference/verticals.md` lists six home-services and five insurance
// children; SPEC §2 seeds exactly four per root. The seed keeps the four
// core trades (plumbing, electrical, HVAC, landscaping) and lines (auto,
// home, life, health); the other three are defined here as `proposed`, ready
// for an operator to activate.

/// Verticals defined but not seeded as active: `insurance.pet`,
/// `home_services.ev_charging` and `home_services.security`, all with status
/// [`VerticalStatus::Proposed`]. They slot under the seeded roots.
pub fn proposed() -> Vec<VerticalDef> {
    let mut defs = vec![
        child(
            "insurance",
            "pet",
            "Pet Insurance",
            vec![
                select("pet_type", "Pet", REQUIRED, &["dog", "cat", "bird", "rabbit", "exotic"]),
                text("breed", "Breed", REQUIRED),
                number("pet_age", "Pet age (years)", REQUIRED, 0.0, 40.0),
                boolean("pre_existing_conditions", "Pre-existing conditions", REQUIRED),
                select(
                    "coverage_level",
                    "Coverage level",
                    REQUIRED,
                    &["accident_only", "accident_and_illness", "comprehensive_wellness"],
                ),
            ],
            &[("US", 20_000_000)],
        ),
        child(
            "home_services",
            "ev_charging",
            "EV Charger Installation",
            vec![
                select(
                    "ev_make",
                    "EV make",
                    REQUIRED,
                    &[
                        "tesla",
                        "ford",
                        "chevrolet",
                        "hyundai",
                        "kia",
                        "volkswagen",
                        "bmw",
                        "rivian",
                        "nissan",
                        "other",
                        "not_yet_purchased",
                    ],
                ),
                select("charger_level", "Charger level", REQUIRED, &["level_1", "level_2", "not_sure"]),
                select(
                    "garage_type",
                    "Parking",
                    REQUIRED,
                    &["attached_garage", "detached_garage", "carport", "driveway", "street_parking"],
                ),
                select(
                    "electrical_panel_capacity",
                    "Electrical panel capacity",
                    OPTIONAL,
                    &["100_amp", "150_amp", "200_amp", "400_amp", "not_sure"],
                ),
            ],
            &[("US", 40_000_000)],
        ),
        child(
            "home_services",
            "security",
            "Home Security",
            vec![
                select(
                    "security_type",
                    "System wanted",
                    REQUIRED,
                    &["alarm_system", "cameras", "smart_locks", "full_smart_home", "monitoring_only"],
                ),
                select("home_size", "Home size", REQUIRED, HOME_SIZES),
                select("entry_points", "Doors and ground-floor windows", REQUIRED, &["1_2", "3_4", "5_6", "7_plus"]),
                select(
                    "monitoring_preference",
                    "Monitoring",
                    OPTIONAL,
                    &["professional", "self_monitored", "no_preference"],
                ),
            ],
            &[("US", 35_000_000)],
        ),
    ];
    for def in &mut defs {
        def.status = VerticalStatus::Proposed;
    }
    defs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vertical::FieldType::{Boolean, Date, Number, Select, Text};
    use crate::vertical::{Catalog, Vertical};

    const ROOTS: [&str; 10] = [
        "solar",
        "mortgage",
        "roofing",
        "insurance",
        "home_services",
        "b2b_saas",
        "real_estate",
        "auto",
        "legal",
        "financial_services",
    ];

    /// One reference field: (key, type, required).
    type RefField = (&'static str, FieldType, bool);

    /// `reference/verticals.md`, child rows: (slug, fields).
    /// `textarea` is `Text`; `incident_date` is a `Date`.
    #[rustfmt::skip]
    const REFERENCE: &[(&str, &[RefField])] = &[
        ("solar.residential", &[("own_or_rent", Select, true), ("roof_type", Select, true), ("roof_age", Number, false), ("electric_bill", Select, true), ("credit_score", Select, false), ("timeline", Select, true), ("sqft", Number, false), ("system_size", Select, false), ("shading", Select, false)]),
        ("solar.commercial", &[("own_or_rent", Select, true), ("roof_type", Select, true), ("roof_age", Number, false), ("electric_bill", Select, true), ("credit_score", Select, false), ("timeline", Select, true), ("building_sqft", Number, true), ("building_type", Select, true), ("monthly_energy_kwh", Number, false)]),
        ("solar.battery_storage", &[("existing_solar", Boolean, true), ("battery_goal", Select, true), ("battery_budget", Select, true), ("electric_bill", Select, true)]),
        ("solar.community", &[("interest_type", Select, true), ("electric_bill", Select, true), ("credit_score", Select, false)]),
        ("mortgage.purchase", &[("property_type", Select, true), ("credit_score", Select, false), ("occupancy", Select, true), ("first_time_buyer", Boolean, false), ("purchase_timeline", Select, true), ("purchase_price", Number, true), ("down_payment", Select, true), ("loan_type", Select, false), ("pre_approved", Boolean, false)]),
        ("mortgage.refinance", &[("property_type", Select, true), ("credit_score", Select, false), ("occupancy", Select, true), ("refinance_goal", Select, true), ("current_rate", Number, true), ("loan_balance", Number, true), ("home_value", Number, false), ("cash_out_amount", Number, false), ("current_lender", Text, false)]),
        ("mortgage.heloc", &[("property_type", Select, true), ("credit_score", Select, false), ("occupancy", Select, true), ("home_value", Number, true), ("mortgage_balance", Number, true), ("credit_needed", Number, true), ("purpose", Select, true)]),
        ("mortgage.reverse", &[("borrower_age", Number, true), ("home_value", Number, true), ("mortgage_balance", Number, false), ("goal", Select, true)]),
        ("roofing.repair", &[("property_type", Select, true), ("roof_material", Select, true), ("stories", Select, true), ("damage_type", Select, true), ("urgency", Select, true), ("insurance_claim", Boolean, false)]),
        ("roofing.replacement", &[("property_type", Select, true), ("roof_material", Select, true), ("stories", Select, true), ("roof_age", Number, false), ("home_size", Select, true), ("budget", Select, false), ("preferred_material", Select, false)]),
        ("roofing.inspection", &[("property_type", Select, true), ("roof_material", Select, true), ("stories", Select, true), ("inspection_reason", Select, true), ("roof_age", Number, false)]),
        ("roofing.gutter", &[("gutter_service", Select, true), ("linear_feet", Number, false), ("gutter_material", Select, false), ("stories", Select, true)]),
        ("insurance.auto", &[("vehicle_type", Select, true), ("vehicle_year", Number, true), ("coverage_type", Select, true), ("driving_record", Select, true), ("annual_mileage", Select, false), ("current_carrier", Select, false), ("multi_car", Boolean, false)]),
        ("insurance.home", &[("property_type", Select, true), ("home_age", Number, true), ("sqft", Number, true), ("coverage_type", Select, true), ("claims_history", Select, true)]),
        ("insurance.life", &[("coverage_amount", Select, true), ("policy_type", Select, true), ("applicant_age", Number, true), ("health_status", Select, true), ("smoker", Boolean, true)]),
        ("insurance.health", &[("plan_type", Select, true), ("household_size", Number, true), ("income_range", Select, true), ("current_coverage", Select, true), ("pre_existing_conditions", Boolean, true)]),
        ("insurance.pet", &[("pet_type", Select, true), ("breed", Text, true), ("pet_age", Number, true), ("pre_existing_conditions", Boolean, true), ("coverage_level", Select, true)]),
        ("home_services.plumbing", &[("property_type", Select, true), ("urgency", Select, true), ("service_type", Select, true), ("problem_description", Text, false), ("budget", Select, false)]),
        ("home_services.electrical", &[("property_type", Select, true), ("urgency", Select, true), ("service_type", Select, true), ("project_scope", Select, true), ("budget", Select, false)]),
        ("home_services.hvac", &[("property_type", Select, true), ("urgency", Select, true), ("service_type", Select, true), ("system_type", Select, true), ("system_age", Number, false), ("fuel_type", Select, false)]),
        ("home_services.landscaping", &[("property_type", Select, true), ("urgency", Select, true), ("service_type", Select, true), ("lot_size", Select, true), ("budget", Select, true)]),
        ("home_services.ev_charging", &[("property_type", Select, true), ("urgency", Select, true), ("ev_make", Select, true), ("charger_level", Select, true), ("garage_type", Select, true), ("electrical_panel_capacity", Select, false)]),
        ("home_services.security", &[("property_type", Select, true), ("urgency", Select, true), ("security_type", Select, true), ("home_size", Select, true), ("entry_points", Select, true), ("monitoring_preference", Select, false)]),
        ("b2b_saas.crm", &[("company_size", Select, true), ("industry", Select, true), ("budget", Select, true), ("decision_timeline", Select, true), ("current_solution", Select, true), ("users_needed", Select, true), ("key_features", Select, false)]),
        ("b2b_saas.analytics", &[("company_size", Select, true), ("industry", Select, true), ("budget", Select, true), ("decision_timeline", Select, true), ("data_sources", Select, true), ("current_tool", Select, false), ("users_needed", Select, true)]),
        ("b2b_saas.marketing_automation", &[("company_size", Select, true), ("industry", Select, true), ("budget", Select, true), ("decision_timeline", Select, true), ("email_list_size", Select, true), ("marketing_channels", Select, true), ("current_tool", Select, false)]),
        ("b2b_saas.hr_tech", &[("company_size", Select, true), ("industry", Select, true), ("budget", Select, true), ("decision_timeline", Select, true), ("employee_count", Number, true), ("modules_needed", Select, true), ("current_system", Select, false)]),
        ("real_estate.residential", &[("transaction_type", Select, true), ("timeline", Select, true), ("property_type", Select, true), ("price_range", Select, true), ("bedrooms", Select, true), ("pre_approved", Boolean, false), ("financing", Select, false)]),
        ("real_estate.commercial", &[("transaction_type", Select, true), ("timeline", Select, true), ("property_type", Select, true), ("sqft_needed", Number, true), ("budget", Select, true), ("lease_buy", Select, true)]),
        ("real_estate.rental", &[("transaction_type", Select, true), ("timeline", Select, true), ("unit_count", Number, true), ("management_needed", Boolean, true), ("target_rent", Number, false), ("rental_type", Select, true)]),
        ("real_estate.land", &[("transaction_type", Select, true), ("timeline", Select, true), ("acreage", Select, true), ("intended_use", Select, true), ("utilities_needed", Boolean, true), ("zoning_type", Select, false)]),
        ("auto.sales", &[("purchase_type", Select, true), ("vehicle_type", Select, true), ("budget", Select, true), ("has_trade_in", Boolean, false), ("purchase_timeline", Select, true)]),
        ("auto.warranty", &[("vehicle_make", Text, true), ("vehicle_model", Text, true), ("vehicle_year", Number, true), ("mileage", Number, true), ("warranty_type", Select, true)]),
        ("auto.repair", &[("vehicle_type", Select, true), ("repair_type", Select, true), ("urgency", Select, true), ("problem_description", Text, false)]),
        ("auto.insurance", &[("vehicle_type", Select, true), ("vehicle_year", Number, true), ("coverage_type", Select, true), ("driving_record", Select, true), ("current_carrier", Select, false)]),
        ("legal.personal_injury", &[("urgency", Select, true), ("consultation_type", Select, true), ("injury_type", Select, true), ("injury_severity", Select, true), ("estimated_case_value", Select, false), ("has_attorney", Boolean, true), ("incident_date", Date, true)]),
        ("legal.family", &[("urgency", Select, true), ("consultation_type", Select, true), ("case_type", Select, true), ("children_involved", Boolean, true), ("contested", Select, true), ("significant_assets", Boolean, false)]),
        ("legal.immigration", &[("urgency", Select, true), ("consultation_type", Select, true), ("visa_type", Select, true), ("current_status", Select, true), ("has_deadline", Boolean, true)]),
        ("legal.criminal_defense", &[("urgency", Select, true), ("consultation_type", Select, true), ("charge_type", Select, true), ("arraigned", Boolean, true), ("bail_status", Select, false), ("prior_convictions", Boolean, true)]),
        ("financial_services.debt_consolidation", &[("timeline", Select, true), ("current_advisor", Select, false), ("total_debt", Select, true), ("debt_type", Select, true), ("monthly_income", Select, true), ("behind_on_payments", Boolean, true)]),
        ("financial_services.banking", &[("timeline", Select, true), ("current_advisor", Select, false), ("account_type", Select, true), ("initial_deposit", Select, false), ("important_features", Select, true)]),
        ("financial_services.credit_repair", &[("timeline", Select, true), ("current_advisor", Select, false), ("current_score", Select, true), ("negative_items", Select, true), ("goal", Select, true)]),
        ("financial_services.tax_prep", &[("timeline", Select, true), ("current_advisor", Select, false), ("tax_type", Select, true), ("filing_status", Select, true), ("complexity", Select, true), ("has_back_taxes", Boolean, false)]),
    ];

    const CONTACT: [&str; 4] = ["full_name", "email", "phone", "street_address"];

    fn catalog() -> Catalog {
        Catalog::new(seed()).expect("the seed is a valid tree")
    }

    /// The seed plus the proposed verticals.
    fn full_catalog() -> Catalog {
        let mut defs = seed();
        defs.extend(proposed());
        Catalog::new(defs).expect("seed and proposed form a valid tree")
    }

    fn is_snake_case(s: &str) -> bool {
        !s.is_empty()
            && !s.starts_with('_')
            && !s.ends_with('_')
            && !s.contains("__")
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }

    #[test]
    fn seed_is_a_valid_tree_of_fifty_active_verticals() {
        let cat = catalog();
        assert_eq!(cat.len(), 50);
        let roots: Vec<&Vertical> = cat.iter().filter(|v| v.def.parent.is_none()).collect();
        let root_slugs: Vec<&str> = roots.iter().map(|v| v.slug()).collect();
        assert_eq!(root_slugs, ROOTS);
        for r in ROOTS {
            assert_eq!(cat.children(r).len(), 4, "{r} has 4 children");
            for c in cat.children(r) {
                let v = cat.get(c).expect("child resolves");
                assert_eq!(v.depth, 2);
                assert_eq!(v.root, r);
                assert!(c.starts_with(&format!("{r}.")), "{c} is under {r}");
            }
        }
        assert!(cat.iter().all(|v| v.def.status == VerticalStatus::Active));
        assert!(cat.iter().all(|v| !v.def.name.is_empty()));
    }

    #[test]
    fn proposed_verticals_are_not_seeded() {
        let cat = full_catalog();
        let proposed = proposed();
        let slugs: Vec<&str> = proposed.iter().map(|d| d.slug.as_str()).collect();
        assert_eq!(slugs, ["insurance.pet", "home_services.ev_charging", "home_services.security"]);
        let seeded = seed();
        for def in &proposed {
            assert_eq!(def.status, VerticalStatus::Proposed);
            assert!(seeded.iter().all(|s| s.slug != def.slug));
            let v = cat.get(&def.slug).expect("resolves");
            assert_eq!(v.depth, 2);
            assert!(cat.floor_price(&def.slug, "US").is_some());
        }
    }

    #[test]
    fn every_vertical_has_the_pii_contact_block() {
        for v in full_catalog().iter() {
            for key in CONTACT {
                let f = v.field(key).unwrap_or_else(|| panic!("{} lacks {key}", v.slug()));
                assert!(f.pii, "{}.{key} is pii", v.slug());
                assert!(!f.filterable && !f.biddable, "{}.{key} is hidden", v.slug());
                assert_eq!(f.required, key != "street_address", "{}.{key}", v.slug());
            }
            assert_eq!(v.field("email").map(|f| f.kind), Some(FieldType::Email));
            assert_eq!(v.field("phone").map(|f| f.kind), Some(FieldType::Phone));
            let pii: Vec<&str> = v.fields.iter().filter(|f| f.pii).map(|f| f.key.as_str()).collect();
            assert_eq!(pii, CONTACT, "{}: only the contact block is pii", v.slug());
        }
    }

    #[test]
    fn children_match_the_reference_field_lists() {
        let cat = full_catalog();
        assert_eq!(REFERENCE.len(), 43);
        assert_eq!(cat.len(), 53);
        for (slug, fields) in REFERENCE {
            let v = cat.get(slug).unwrap_or_else(|| panic!("{slug} is seeded"));
            for (key, kind, required) in *fields {
                let f = v.field(key).unwrap_or_else(|| panic!("{slug} has {key}"));
                assert_eq!(f.kind, *kind, "{slug}.{key} type");
                assert_eq!(f.required, *required, "{slug}.{key} required");
            }
            // Fields beyond the reference list (inherited or contact) never
            // burden a seller: apart from the contact block they are optional.
            for f in &v.fields {
                let listed = fields.iter().any(|(k, _, _)| *k == f.key);
                if !listed && !CONTACT.contains(&f.key.as_str()) {
                    assert!(!f.required, "{slug}.{} is an unlisted required field", f.key);
                }
            }
        }
    }

    #[test]
    fn field_definitions_are_well_formed() {
        for v in full_catalog().iter() {
            for f in &v.fields {
                let at = format!("{}.{}", v.slug(), f.key);
                assert!(is_snake_case(&f.key), "{at}: key");
                assert!(!f.label.trim().is_empty(), "{at}: label");
                match f.kind {
                    FieldType::Select => {
                        assert!(!f.options.is_empty(), "{at}: options");
                        assert!(f.options.iter().all(|o| is_snake_case(o)), "{at}: options");
                        let mut sorted = f.options.clone();
                        sorted.sort();
                        sorted.dedup();
                        assert_eq!(sorted.len(), f.options.len(), "{at}: duplicate option");
                    }
                    _ => assert!(f.options.is_empty(), "{at}: options on a non-select"),
                }
                match f.kind {
                    FieldType::Number => {
                        let (min, max) = (f.min.expect("min"), f.max.expect("max"));
                        assert!(min <= max, "{at}: bounds");
                    }
                    _ => assert!(f.min.is_none() && f.max.is_none(), "{at}: bounds"),
                }
                if !f.pii {
                    let (filterable, biddable) = match f.kind {
                        FieldType::Select | FieldType::Boolean => (true, true),
                        FieldType::Number => (false, true),
                        _ => (false, false),
                    };
                    assert_eq!(f.filterable, filterable, "{at}: filterable");
                    assert_eq!(f.biddable, biddable, "{at}: biddable");
                }
            }
        }
    }

    #[test]
    fn number_bounds_are_realistic() {
        let cat = catalog();
        let bounds = |slug: &str, key: &str| {
            let f = cat.get(slug).and_then(|v| v.field(key)).expect("field exists");
            (f.min, f.max)
        };
        assert_eq!(bounds("solar.residential", "roof_age"), (Some(0.0), Some(100.0)));
        assert_eq!(bounds("insurance.auto", "vehicle_year"), (Some(1950.0), Some(2027.0)));
        assert_eq!(bounds("auto.warranty", "vehicle_year"), (Some(1950.0), Some(2027.0)));
        assert_eq!(bounds("mortgage.refinance", "current_rate"), (Some(0.0), Some(30.0)));
    }

    #[test]
    fn compliance_flags_are_inherited() {
        let cat = catalog();
        let tcpa = ["mortgage", "insurance", "financial_services", "legal", "solar", "auto"];
        let kyc = ["financial_services", "mortgage"];
        for v in cat.iter() {
            assert_eq!(v.compliance.requires_tcpa, tcpa.contains(&v.root.as_str()), "{}", v.slug());
            assert_eq!(v.compliance.requires_kyc, kyc.contains(&v.root.as_str()), "{}", v.slug());
        }
        let restricted: Vec<(&str, &[String])> = cat
            .iter()
            .filter(|v| !v.compliance.restricted_geos.is_empty())
            .map(|v| (v.slug(), v.compliance.restricted_geos.as_slice()))
            .collect();
        assert_eq!(restricted.len(), 3);
        let pi = cat.get("legal.personal_injury").expect("seeded");
        assert!(pi.is_restricted("GB", None));
        assert!(pi.is_restricted("GB", Some("ENG")));
        assert!(!pi.is_restricted("US", Some("GA")));
        let debt = cat.get("financial_services.debt_consolidation").expect("seeded");
        assert!(debt.is_restricted("US", Some("GA")));
        assert!(!debt.is_restricted("US", Some("FL")));
        let repair = cat.get("financial_services.credit_repair").expect("seeded");
        assert!(repair.is_restricted("US", Some("GA")));
        assert!(!cat.get("legal.family").expect("seeded").is_restricted("GB", None));
        // Every restriction names a registered country (and region).
        for (_, geos) in restricted {
            for g in geos {
                let (country, region) = match g.split_once('-') {
                    Some((c, r)) => (c, Some(r)),
                    None => (g.as_str(), None),
                };
                let c = crate::geo::country(country).expect("known country");
                assert_eq!(c.code, country);
                if let Some(r) = region {
                    assert!(c.regions.iter().any(|(code, _)| *code == r), "{g}");
                }
            }
        }
    }

    #[test]
    fn every_vertical_has_floor_prices() {
        let cat = catalog();
        for v in cat.iter() {
            for country in ["US", "KE", "CA", "GB", "ZZ"] {
                let floor = cat.floor_price(v.slug(), country);
                let m = floor.unwrap_or_else(|| panic!("{} has a floor in {country}", v.slug()));
                assert!(m > Money::ZERO, "{} {country}", v.slug());
            }
            let us = cat.floor_price(v.slug(), "US").expect("US floor");
            let ke = cat.floor_price(v.slug(), "KE").expect("KE floor");
            assert!(us >= ke, "{}: US floor at least the default", v.slug());
        }
        for root in ROOTS {
            let def = &cat.get(root).expect("seeded").def;
            assert!(def.floor_prices.contains_key("*"), "{root} has a default floor");
            assert!(def.floor_prices.len() >= 5, "{root} prices several countries");
            for country in def.floor_prices.keys() {
                assert!(country == "*" || crate::geo::country(country).is_some(), "{country}");
            }
        }
        assert_eq!(cat.floor_price("solar.residential", "US"), Some(Money::from_micros(85_000_000)));
        assert_eq!(
            cat.floor_price("solar.battery_storage", "DE"),
            Some(Money::from_micros(40_000_000)),
            "falls back to the parent's country price"
        );
        assert_eq!(
            cat.floor_price("solar.commercial", "KE"),
            Some(Money::from_micros(30_000_000)),
            "a child's own default wins over the parent's"
        );
    }

    #[test]
    fn us_floor_prices_are_in_realistic_ranges() {
        let cat = catalog();
        let usd = |slug: &str| cat.floor_price(slug, "US").map(|m| m.micros() / 1_000_000).expect("US floor");
        let ranges: [(&str, i64, i64); 10] = [
            ("solar", 40, 90),
            ("mortgage", 60, 120),
            ("roofing", 20, 80),
            ("insurance", 20, 60),
            ("home_services", 15, 60),
            ("b2b_saas", 50, 200),
            ("real_estate", 25, 100),
            ("auto", 15, 50),
            ("legal", 80, 250),
            ("financial_services", 30, 80),
        ];
        for (root, lo, hi) in ranges {
            for slug in cat.subtree(root) {
                let p = usd(&slug);
                assert!((lo..=hi).contains(&p), "{slug}: US floor {p} outside {lo}..={hi}");
            }
        }
    }
}
