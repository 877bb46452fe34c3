//! Verticals: the tree of markets a lead can be sold in, each with its lead
//! schema and compliance flags.
//!
//! A [`VerticalDef`] holds only what a vertical declares itself; the
//! [`Catalog`] resolves inheritance: a child's effective fields are its
//! ancestors' fields (root first) followed by its own, and its effective
//! compliance flags are the union along the ancestor chain.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::money::Money;

/// Maximum depth of the vertical tree (a root has depth 1).
pub const MAX_DEPTH: usize = 3;

/// The type of one lead field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Free text (trimmed, at most 2 000 characters).
    Text,
    /// A JSON number, optionally bounded by `min`/`max`.
    Number,
    /// `true` or `false`.
    Boolean,
    /// One of `options`.
    Select,
    /// An e-mail address.
    Email,
    /// A phone number (E.164 after normalisation).
    Phone,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A postal code (checked against the lead's country).
    Zip,
}

/// One field of a vertical's lead schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldDef {
    /// snake_case key used in the submission's `fields` object.
    pub key: String,
    /// Human label.
    pub label: String,
    /// Value type.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// Whether a submission must carry it.
    pub required: bool,
    /// Allowed values of a `select` field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// Lower bound of a `number` field (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Upper bound of a `number` field (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Personal data: encrypted at rest, never shown before purchase.
    pub pii: bool,
    /// Usable in list searches (`field.<key>=…`).
    pub filterable: bool,
    /// Usable in auto-bid rule filters.
    pub biddable: bool,
}

/// Lifecycle of a vertical.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerticalStatus {
    /// Suggested, not yet trading.
    Proposed,
    /// Trading.
    Active,
    /// Temporarily not accepting leads.
    Paused,
    /// Permanently closed.
    Retired,
}

impl VerticalStatus {
    /// Stable lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proposed => "proposed",
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Retired => "retired",
        }
    }
}

/// Compliance flags a vertical declares for itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compliance {
    /// TCPA consent no older than 30 days is mandatory.
    pub requires_tcpa: bool,
    /// Only KYC-verified buyers may bid.
    pub requires_kyc: bool,
    /// Where the vertical may not trade: a country (`"CU"`) or a region
    /// (`"US-NY"`), upper case.
    #[serde(default)]
    pub restricted_geos: Vec<String>,
}

/// A vertical as declared (own fields and flags only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerticalDef {
    /// Dotted slug; a child's slug starts with its parent's (`solar.residential`).
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Parent slug, `None` for a root.
    pub parent: Option<String>,
    /// Lifecycle status.
    pub status: VerticalStatus,
    /// Other names clients may use for it.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Fields declared by this vertical (not inherited ones).
    pub fields: Vec<FieldDef>,
    /// Flags declared by this vertical.
    pub compliance: Compliance,
    /// Floor price (default reserve) per ISO country code. A country missing
    /// here falls back to the parent's floor, then to the `"*"` entry.
    pub floor_prices: BTreeMap<String, Money>,
}

/// Why a set of vertical definitions does not form a valid catalogue.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogError {
    /// Two verticals share a slug.
    #[error("duplicate vertical slug `{0}`")]
    DuplicateSlug(String),
    /// A parent slug names no vertical.
    #[error("vertical `{slug}` names unknown parent `{parent}`")]
    UnknownParent {
        /// The child.
        slug: String,
        /// The missing parent.
        parent: String,
    },
    /// The tree is deeper than [`MAX_DEPTH`].
    #[error("vertical `{0}` is deeper than {MAX_DEPTH} levels")]
    TooDeep(String),
    /// A child redeclares a field key it inherits, or declares one twice.
    #[error("vertical `{slug}` declares field `{key}` twice (own or inherited)")]
    DuplicateField {
        /// The vertical.
        slug: String,
        /// The field key.
        key: String,
    },
}

/// A vertical with inheritance resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Vertical {
    /// The declaration.
    pub def: VerticalDef,
    /// Depth in the tree, 1 for a root.
    pub depth: usize,
    /// Slug of the root ancestor (itself for a root).
    pub root: String,
    /// Ancestors' fields (root first) followed by its own.
    pub fields: Vec<FieldDef>,
    /// Union of the flags along the ancestor chain.
    pub compliance: Compliance,
}

impl Vertical {
    /// The slug.
    pub fn slug(&self) -> &str {
        &self.def.slug
    }

    /// A field of the effective schema by key.
    pub fn field(&self, key: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.key == key)
    }

    /// Whether the vertical may not trade in `country`/`region`.
    pub fn is_restricted(&self, country: &str, region: Option<&str>) -> bool {
        self.compliance.restricted_geos.iter().any(|g| match g.split_once('-') {
            Some((c, r)) => c == country && region == Some(r),
            None => g == country,
        })
    }
}

/// The resolved vertical tree.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    by_slug: HashMap<String, Vertical>,
    aliases: HashMap<String, String>,
    children: HashMap<String, Vec<String>>,
    order: Vec<String>,
}

impl Catalog {
    /// Resolves inheritance and checks the tree.
    pub fn new(defs: Vec<VerticalDef>) -> Result<Self, CatalogError> {
        let mut declared: HashMap<String, VerticalDef> = HashMap::new();
        let mut order = Vec::with_capacity(defs.len());
        for def in defs {
            if declared.contains_key(&def.slug) {
                return Err(CatalogError::DuplicateSlug(def.slug));
            }
            order.push(def.slug.clone());
            declared.insert(def.slug.clone(), def);
        }
        let mut by_slug = HashMap::with_capacity(declared.len());
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        for slug in &order {
            let mut chain = vec![&declared[slug]];
            while let Some(parent) = chain.last().and_then(|d| d.parent.as_ref()) {
                let Some(p) = declared.get(parent) else {
                    return Err(CatalogError::UnknownParent {
                        slug: chain.last().map(|d| d.slug.clone()).unwrap_or_default(),
                        parent: parent.clone(),
                    });
                };
                chain.push(p);
                if chain.len() > MAX_DEPTH {
                    return Err(CatalogError::TooDeep(slug.clone()));
                }
            }
            chain.reverse();
            let mut fields: Vec<FieldDef> = Vec::new();
            let mut restricted = BTreeSet::new();
            let mut compliance = Compliance::default();
            for d in &chain {
                for f in &d.fields {
                    if fields.iter().any(|g| g.key == f.key) {
                        return Err(CatalogError::DuplicateField { slug: slug.clone(), key: f.key.clone() });
                    }
                    fields.push(f.clone());
                }
                compliance.requires_tcpa |= d.compliance.requires_tcpa;
                compliance.requires_kyc |= d.compliance.requires_kyc;
                restricted.extend(d.compliance.restricted_geos.iter().cloned());
            }
            compliance.restricted_geos = restricted.into_iter().collect();
            let def = declared[slug].clone();
            if let Some(parent) = &def.parent {
                children.entry(parent.clone()).or_default().push(slug.clone());
            }
            by_slug.insert(
                slug.clone(),
                Vertical { depth: chain.len(), root: chain[0].slug.clone(), fields, compliance, def },
            );
        }
        let mut aliases = HashMap::new();
        for v in by_slug.values() {
            for a in &v.def.aliases {
                aliases.insert(a.clone(), v.def.slug.clone());
            }
        }
        Ok(Self { by_slug, aliases, children, order })
    }

    /// A vertical by slug or alias.
    pub fn get(&self, slug: &str) -> Option<&Vertical> {
        self.by_slug.get(slug).or_else(|| self.aliases.get(slug).and_then(|s| self.by_slug.get(s)))
    }

    /// Every vertical, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = &Vertical> {
        self.order.iter().filter_map(|s| self.by_slug.get(s))
    }

    /// Number of verticals.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the catalogue is empty.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Direct children of `slug`.
    pub fn children(&self, slug: &str) -> &[String] {
        self.children.get(slug).map(Vec::as_slice).unwrap_or(&[])
    }

    /// `slug` followed by its ancestors up to the root (most specific first).
    pub fn lineage(&self, slug: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = self.by_slug.get(slug);
        while let Some(v) = cur {
            out.push(v.def.slug.clone());
            cur = v.def.parent.as_ref().and_then(|p| self.by_slug.get(p));
        }
        out
    }

    /// `slug` and all its descendants (so a parent matches its subtree).
    pub fn subtree(&self, slug: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![slug.to_owned()];
        while let Some(s) = stack.pop() {
            stack.extend(self.children(&s).iter().cloned());
            out.push(s);
        }
        out
    }

    /// The floor price for `country`: the vertical's own, else the nearest
    /// ancestor's, else the nearest `"*"` entry.
    pub fn floor_price(&self, slug: &str, country: &str) -> Option<Money> {
        let mut cur = self.by_slug.get(slug);
        let mut wildcard = None;
        while let Some(v) = cur {
            if let Some(m) = v.def.floor_prices.get(country) {
                return Some(*m);
            }
            if wildcard.is_none() {
                wildcard = v.def.floor_prices.get("*").copied();
            }
            cur = v.def.parent.as_ref().and_then(|p| self.by_slug.get(p));
        }
        wildcard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(key: &str) -> FieldDef {
        FieldDef {
            key: key.into(),
            label: key.into(),
            kind: FieldType::Text,
            required: false,
            options: vec![],
            min: None,
            max: None,
            pii: false,
            filterable: false,
            biddable: false,
        }
    }

    fn def(slug: &str, parent: Option<&str>, fields: &[&str]) -> VerticalDef {
        VerticalDef {
            slug: slug.into(),
            name: slug.into(),
            parent: parent.map(Into::into),
            status: VerticalStatus::Active,
            aliases: vec![],
            fields: fields.iter().map(|k| field(k)).collect(),
            compliance: Compliance::default(),
            floor_prices: BTreeMap::new(),
        }
    }

    #[test]
    fn children_inherit_fields_and_union_flags() {
        let mut root = def("solar", None, &["a"]);
        root.compliance.requires_tcpa = true;
        root.compliance.restricted_geos = vec!["CU".into()];
        root.floor_prices.insert("US".into(), Money::from_micros(85_000_000));
        let mut child = def("solar.residential", Some("solar"), &["b"]);
        child.compliance.requires_kyc = true;
        child.compliance.restricted_geos = vec!["US-NY".into()];
        let cat = Catalog::new(vec![root, child]).expect("valid tree");
        let v = cat.get("solar.residential").expect("present");
        let keys: Vec<_> = v.fields.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert!(v.compliance.requires_tcpa && v.compliance.requires_kyc);
        assert!(v.is_restricted("US", Some("NY")));
        assert!(!v.is_restricted("US", Some("CA")));
        assert!(v.is_restricted("CU", None));
        assert_eq!(v.depth, 2);
        assert_eq!(v.root, "solar");
        assert_eq!(cat.floor_price("solar.residential", "US"), Some(Money::from_micros(85_000_000)));
        let mut sub = cat.subtree("solar");
        sub.sort();
        assert_eq!(sub, ["solar", "solar.residential"]);
    }

    #[test]
    fn rejects_bad_trees() {
        assert_eq!(
            Catalog::new(vec![def("a.b", Some("a"), &[])]).err(),
            Some(CatalogError::UnknownParent { slug: "a.b".into(), parent: "a".into() })
        );
        let deep = vec![
            def("a", None, &[]),
            def("a.b", Some("a"), &[]),
            def("a.b.c", Some("a.b"), &[]),
            def("a.b.c.d", Some("a.b.c"), &[]),
        ];
        assert!(matches!(Catalog::new(deep), Err(CatalogError::TooDeep(_))));
        let dup = vec![def("a", None, &["x"]), def("a.b", Some("a"), &["x"])];
        assert!(matches!(Catalog::new(dup), Err(CatalogError::DuplicateField { .. })));
    }
}
