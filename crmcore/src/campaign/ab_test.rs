//! A/B tests: which variant a recipient gets, and which variant won.
//!
//! - [`assign_variant`] is deterministic: a recipient lands in the same variant of a campaign on
//!   every call and on every machine (SHA-256 of campaign id and recipient key), in proportion
//!   to the variants' weights.
//! - [`choose_winner`] compares each challenger with the control (the first variant) with a
//!   pooled two-proportion z-test, two-sided. With k variants there are k−1 comparisons, so each
//!   is held to α/(k−1) (Bonferroni): the chance of naming any false winner stays ≤ α. The
//!   winner is the significantly better challenger with the highest rate, else the control.
//!
//! Everything here is a pure function over counts; the results serialise for storage and display.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::error::{CrmError, Result};
use crate::secret::sha256;

/// The usual significance level.
pub const DEFAULT_ALPHA: f64 = 0.05;

/// The variant index (into `weights`) for one recipient of one campaign. Stable across calls,
/// processes and versions; a variant of weight 0 is never chosen.
pub fn assign_variant(campaign_id: &str, recipient_key: &str, weights: &[u32]) -> Result<usize> {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if total == 0 {
        return Err(CrmError::invalid("variants", "invalid", "at least one variant needs a positive weight"));
    }
    let mut input = Vec::with_capacity(campaign_id.len() + recipient_key.len() + 9);
    // Length-prefixed so ("ab", "c") and ("a", "bc") differ.
    input.extend_from_slice(&(campaign_id.len() as u64).to_be_bytes());
    input.extend_from_slice(campaign_id.as_bytes());
    input.push(0);
    input.extend_from_slice(recipient_key.as_bytes());
    let digest = sha256(&input);
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    // Multiply-shift maps the 64-bit hash onto [0, total) without modulo bias worth the name.
    let point = ((u128::from(u64::from_be_bytes(head)) * u128::from(total)) >> 64) as u64;
    let mut upper = 0u64;
    for (index, &weight) in weights.iter().enumerate() {
        upper += u64::from(weight);
        if point < upper {
            return Ok(index);
        }
    }
    Err(CrmError::Internal("variant assignment fell outside the weights".into()))
}

/// What one variant achieved: how many recipients saw it and how many converted (opened,
/// clicked, bought: whichever metric the test is about).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VariantStats {
    /// The variant's key, e.g. `A`.
    pub variant: String,
    /// Recipients who received it.
    pub recipients: u64,
    /// Recipients who converted.
    pub conversions: u64,
}

impl VariantStats {
    /// Stats for a variant.
    pub fn new(variant: impl Into<String>, recipients: u64, conversions: u64) -> Self {
        Self { variant: variant.into(), recipients, conversions }
    }

    /// Conversion rate, 0 when nobody received it.
    pub fn rate(&self) -> f64 {
        if self.recipients == 0 { 0.0 } else { self.conversions as f64 / self.recipients as f64 }
    }
}

/// The result of a pooled two-proportion z-test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ZTest {
    /// z statistic of `b − a` (positive when b converts better).
    pub z: f64,
    /// Two-sided p-value.
    pub p_value: f64,
}

/// Pooled two-proportion z-test of `b` against `a`. `None` when it is undefined: a variant
/// without recipients, or no variance at all (every recipient converted, or none did).
pub fn two_proportion_z_test(a: &VariantStats, b: &VariantStats) -> Option<ZTest> {
    if a.recipients == 0 || b.recipients == 0 {
        return None;
    }
    let (na, nb) = (a.recipients as f64, b.recipients as f64);
    let pooled = (a.conversions + b.conversions) as f64 / (na + nb);
    let variance = pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb);
    if variance.is_nan() || variance <= 0.0 {
        return None;
    }
    let z = (b.rate() - a.rate()) / variance.sqrt();
    let normal = Normal::standard();
    // sf(|z|) rather than 1 − cdf(|z|): exact far into the tail.
    let p_value = (2.0 * normal.sf(z.abs())).min(1.0);
    Some(ZTest { z, p_value })
}

/// One challenger against the control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Comparison {
    /// The challenger's key.
    pub variant: String,
    /// Its conversion rate.
    pub rate: f64,
    /// Its rate minus the control's, in absolute terms (0.02 = two points).
    pub lift: f64,
    /// The z statistic (positive: better than the control); `None` when the test is undefined.
    pub z: Option<f64>,
    /// Two-sided p-value; `None` when the test is undefined.
    pub p_value: Option<f64>,
    /// Whether `p_value` is below the corrected α.
    pub significant: bool,
}

/// Why the winner was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WinnerReason {
    /// A challenger converts significantly better than the control.
    SignificantlyBetter,
    /// No challenger is significantly better: the control stays.
    NoSignificantDifference,
    /// Some comparison is undefined (a variant without recipients, or no conversions anywhere):
    /// the control stays.
    InsufficientData,
    /// There is only one variant.
    SingleVariant,
}

/// The outcome of an A/B test, with everything needed to show how it was reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WinnerDecision {
    /// The winning variant's key.
    pub winner: String,
    /// The control's key (the first variant).
    pub control: String,
    /// The control's conversion rate.
    pub control_rate: f64,
    /// The family-wise significance level asked for.
    pub alpha: f64,
    /// The level each comparison was held to: α/(k−1).
    pub alpha_per_comparison: f64,
    /// Each challenger against the control, in input order.
    pub comparisons: Vec<Comparison>,
    /// Why this winner.
    pub reason: WinnerReason,
}

/// Picks the winner among `variants`, the first being the control, at family-wise level `alpha`.
/// Fails when there is no variant, a key repeats, conversions exceed recipients, or `alpha` is
/// not strictly between 0 and 1.
pub fn choose_winner(variants: &[VariantStats], alpha: f64) -> Result<WinnerDecision> {
    let Some(control) = variants.first() else {
        return Err(CrmError::invalid("variants", "required", "an A/B test needs at least one variant"));
    };
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(CrmError::invalid("alpha", "out_of_range", "alpha must be between 0 and 1"));
    }
    for (i, v) in variants.iter().enumerate() {
        if v.conversions > v.recipients {
            return Err(CrmError::invalid(
                format!("variants.{i}.conversions"),
                "out_of_range",
                "conversions cannot exceed recipients",
            ));
        }
        if variants[..i].iter().any(|other| other.variant == v.variant) {
            return Err(CrmError::invalid(format!("variants.{i}.variant"), "duplicate", "variant keys must differ"));
        }
    }
    let challengers = &variants[1..];
    let alpha_per_comparison = if challengers.is_empty() { alpha } else { alpha / challengers.len() as f64 };
    let comparisons: Vec<Comparison> = challengers
        .iter()
        .map(|v| {
            let test = two_proportion_z_test(control, v);
            Comparison {
                variant: v.variant.clone(),
                rate: v.rate(),
                lift: v.rate() - control.rate(),
                z: test.map(|t| t.z),
                p_value: test.map(|t| t.p_value),
                significant: test.is_some_and(|t| t.p_value < alpha_per_comparison),
            }
        })
        .collect();
    let best = comparisons
        .iter()
        .filter(|c| c.significant && c.lift > 0.0)
        .max_by(|a, b| a.rate.total_cmp(&b.rate).then(b.variant.cmp(&a.variant)));
    let (winner, reason) = match best {
        Some(c) => (c.variant.clone(), WinnerReason::SignificantlyBetter),
        None if challengers.is_empty() => (control.variant.clone(), WinnerReason::SingleVariant),
        None if comparisons.iter().any(|c| c.p_value.is_none()) => {
            (control.variant.clone(), WinnerReason::InsufficientData)
        }
        None => (control.variant.clone(), WinnerReason::NoSignificantDifference),
    };
    Ok(WinnerDecision {
        winner,
        control: control.variant.clone(),
        control_rate: control.rate(),
        alpha,
        alpha_per_comparison,
        comparisons,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// splitmix64: a tiny seeded generator, enough for simulations.
    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Conversions among `n` recipients who each convert with probability `p`.
        fn binomial(&mut self, n: u64, p: f64) -> u64 {
            let threshold = (p * (u64::MAX as f64)) as u64;
            (0..n).filter(|_| self.next() < threshold).count() as u64
        }
    }

    fn simulate(rng: &mut SplitMix, rates: &[f64], n: u64) -> WinnerDecision {
        let stats: Vec<VariantStats> = rates
            .iter()
            .enumerate()
            .map(|(i, &p)| VariantStats::new(((b'A' + i as u8) as char).to_string(), n, rng.binomial(n, p)))
            .collect();
        choose_winner(&stats, DEFAULT_ALPHA).unwrap()
    }

    #[test]
    fn z_test_matches_a_worked_example() {
        // 200/1000 against 250/1000: pooled p = 0.225, se = 0.018675, z = 2.6774, p = 0.00742.
        let t = two_proportion_z_test(&VariantStats::new("A", 1000, 200), &VariantStats::new("B", 1000, 250)).unwrap();
        assert!((t.z - 2.6774).abs() < 1e-3, "{t:?}");
        assert!((t.p_value - 0.00742).abs() < 1e-4, "{t:?}");
        let reverse =
            two_proportion_z_test(&VariantStats::new("B", 1000, 250), &VariantStats::new("A", 1000, 200)).unwrap();
        assert!((reverse.z + t.z).abs() < 1e-12 && (reverse.p_value - t.p_value).abs() < 1e-12);
        assert!(two_proportion_z_test(&VariantStats::new("A", 0, 0), &VariantStats::new("B", 10, 1)).is_none());
        assert!(two_proportion_z_test(&VariantStats::new("A", 10, 0), &VariantStats::new("B", 10, 0)).is_none());
    }

    #[test]
    fn winner_is_the_best_significant_challenger_else_the_control() {
        let variants = [
            VariantStats::new("A", 10_000, 1_000),
            VariantStats::new("B", 10_000, 1_150),
            VariantStats::new("C", 10_000, 1_250),
            VariantStats::new("D", 10_000, 1_020),
        ];
        let d = choose_winner(&variants, 0.05).unwrap();
        assert_eq!(d.winner, "C");
        assert_eq!(d.reason, WinnerReason::SignificantlyBetter);
        assert!((d.alpha_per_comparison - 0.05 / 3.0).abs() < 1e-12);
        assert_eq!(d.comparisons.iter().map(|c| c.significant).collect::<Vec<_>>(), [true, true, false]);
        // A worse challenger, however significant, never wins.
        let d = choose_winner(&[VariantStats::new("A", 10_000, 1_500), VariantStats::new("B", 10_000, 1_000)], 0.05)
            .unwrap();
        assert_eq!((d.winner.as_str(), d.reason), ("A", WinnerReason::NoSignificantDifference));
        assert!(d.comparisons[0].significant && d.comparisons[0].lift < 0.0);
        // Bonferroni: p ≈ 0.03 wins a two-variant test but not a four-variant one.
        let pair = [VariantStats::new("A", 2_000, 200), VariantStats::new("B", 2_000, 243)];
        assert_eq!(choose_winner(&pair, 0.05).unwrap().winner, "B");
        let mut four = pair.to_vec();
        four.extend([VariantStats::new("C", 2_000, 200), VariantStats::new("D", 2_000, 200)]);
        assert_eq!(choose_winner(&four, 0.05).unwrap().winner, "A");
    }

    #[test]
    fn edge_cases_and_invalid_input() {
        let one = choose_winner(&[VariantStats::new("A", 10, 1)], 0.05).unwrap();
        assert_eq!((one.winner.as_str(), one.reason), ("A", WinnerReason::SingleVariant));
        let empty = choose_winner(&[VariantStats::new("A", 0, 0), VariantStats::new("B", 0, 0)], 0.05).unwrap();
        assert_eq!((empty.winner.as_str(), empty.reason), ("A", WinnerReason::InsufficientData));
        assert!(choose_winner(&[], 0.05).is_err());
        assert!(choose_winner(&[VariantStats::new("A", 1, 2)], 0.05).is_err());
        assert!(choose_winner(&[VariantStats::new("A", 1, 1), VariantStats::new("A", 1, 1)], 0.05).is_err());
        assert!(choose_winner(&[VariantStats::new("A", 1, 1)], 0.0).is_err());
        assert!(choose_winner(&[VariantStats::new("A", 1, 1)], f64::NAN).is_err());
        let json = serde_json::to_value(&empty).unwrap();
        assert_eq!(json["reason"], "insufficient_data");
        assert_eq!(serde_json::from_value::<WinnerDecision>(json).unwrap(), empty);
    }

    #[test]
    fn aa_tests_rarely_declare_a_false_winner() {
        let mut rng = SplitMix(0x5EED_0001);
        let runs = 10_000;
        let false_winners = (0..runs).filter(|_| simulate(&mut rng, &[0.1, 0.1], 400).winner != "A").count();
        let rate = false_winners as f64 / runs as f64;
        // Two-sided at 5 %, and only a better challenger wins: about 2.5 % expected.
        assert!(rate <= 0.05, "false winner rate {rate}");
        assert!(rate > 0.005, "the test is implausibly conservative: {rate}");

        // Four identical variants: Bonferroni keeps the family-wise rate under α too.
        let runs = 2_000;
        let false_winners = (0..runs).filter(|_| simulate(&mut rng, &[0.1; 4], 400).winner != "A").count();
        let rate = false_winners as f64 / runs as f64;
        assert!(rate <= 0.05, "false winner rate with 4 variants {rate}");
    }

    #[test]
    fn a_real_two_point_lift_is_detected() {
        let mut rng = SplitMix(0x5EED_0002);
        let runs = 100;
        let detected = (0..runs).filter(|_| simulate(&mut rng, &[0.10, 0.12], 6_000).winner == "B").count();
        // Power of a two-sided 5 % test at n = 6,000 per arm is about 94 %.
        assert!(detected >= 85, "detected {detected}/{runs}");
    }

    /// Where `contact-1` of `campaign-1` lands among 1,000 equal variants.
    const PINNED: usize = 443;

    #[test]
    fn assignment_is_stable_and_follows_the_weights() {
        let weights = [50, 30, 20, 0];
        let mut counts = [0usize; 4];
        for r in 0..20_000 {
            let key = format!("contact-{r}");
            let v = assign_variant("campaign-1", &key, &weights).unwrap();
            assert_eq!(v, assign_variant("campaign-1", &key, &weights).unwrap());
            counts[v] += 1;
        }
        assert_eq!(counts[3], 0);
        for (count, weight) in counts.iter().zip(weights) {
            let expected = 20_000.0 * f64::from(weight) / 100.0;
            assert!((*count as f64 - expected).abs() < 400.0, "{counts:?}");
        }
        // Another campaign reshuffles recipients.
        let moved = (0..1_000)
            .filter(|r| {
                let key = format!("contact-{r}");
                assign_variant("campaign-1", &key, &[1, 1]).unwrap()
                    != assign_variant("campaign-2", &key, &[1, 1]).unwrap()
            })
            .count();
        assert!((400..600).contains(&moved), "{moved}");
        // Known value: a change to the hashing would move every running test's recipients.
        assert_eq!(assign_variant("campaign-1", "contact-1", &[1; 1000]).unwrap(), PINNED);
        assert!(assign_variant("c", "r", &[]).is_err());
        assert!(assign_variant("c", "r", &[0, 0]).is_err());
    }
}
