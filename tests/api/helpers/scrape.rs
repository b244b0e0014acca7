//! `/metrics` as Prometheus reads it: scraped over HTTP and parsed against the OpenMetrics text format. Written
//! here because the parser crate at hand (`prometheus-parse`) drops every sample whose label value holds `}`, `,`
//! or `=`, which route templates such as `/api/v1/jobs/{id}` do. The parse is strict: a line it does not know, a
//! sample of an undeclared family, a counter sample without `_total`, a histogram whose buckets fall or whose
//! `+Inf` bucket is not its count, or a missing `# EOF` fail the test.
use std::collections::{BTreeMap, HashMap};

use super::TestApp;

pub type Labels = BTreeMap<String, String>;

/// One scrape, parsed.
pub struct Metrics {
    pub text: String,
    /// (sample name, labels) to value.
    samples: HashMap<(String, Labels), f64>,
}

impl TestApp {
    /// Scrapes `/metrics` (with the app's API key, if it has one) and parses it; panics unless it is a 200.
    pub async fn scrape(&self) -> Metrics {
        let reply = self.get("/metrics").await;
        assert_eq!(reply.status, 200, "scrape /metrics: {}", reply.text);
        assert!(reply.content_type().starts_with("application/openmetrics-text"), "{}", reply.content_type());
        Metrics::parse(&reply.text).unwrap_or_else(|why| panic!("{why}:\n{}", reply.text))
    }
}

impl Metrics {
    pub fn parse(text: &str) -> Result<Metrics, String> {
        let body = text.strip_suffix("# EOF\n").ok_or("the exposition does not end with # EOF")?;
        let mut types: HashMap<String, String> = HashMap::new();
        let mut samples = HashMap::new();
        for line in body.lines() {
            if let Some(comment) = line.strip_prefix("# ") {
                let mut words = comment.splitn(3, ' ');
                match (words.next(), words.next(), words.next()) {
                    (Some("TYPE"), Some(name), Some(kind)) => drop(types.insert(name.into(), kind.into())),
                    (Some("HELP" | "UNIT"), Some(_), Some(_)) => {}
                    _ => return Err(format!("unknown comment line {line:?}")),
                }
                continue;
            }
            let (name, labels, value) = sample(line)?;
            let family = family_of(&name, &types).ok_or(format!("sample {name} of no declared family"))?;
            if types[&family] == "counter" && name != format!("{family}_total") {
                return Err(format!("counter sample {name} is not {family}_total"));
            }
            if samples.insert((name.clone(), labels), value).is_some() {
                return Err(format!("a repeated series of {name}"));
            }
        }
        let metrics = Metrics { text: text.to_string(), samples };
        metrics.check_histograms(&types)?;
        Ok(metrics)
    }

    /// Buckets never fall, and `+Inf` is `_count`.
    fn check_histograms(&self, types: &HashMap<String, String>) -> Result<(), String> {
        for (family, _) in types.iter().filter(|(_, kind)| *kind == "histogram") {
            for ((name, labels), count) in &self.samples {
                if *name != format!("{family}_count") {
                    continue;
                }
                let buckets = self.buckets(family, labels);
                if buckets.windows(2).any(|w| w[1].1 < w[0].1) {
                    return Err(format!("{family} {labels:?}: buckets fall: {buckets:?}"));
                }
                if buckets.last() != Some(&(f64::INFINITY, *count)) {
                    return Err(format!("{family} {labels:?}: +Inf bucket is not the count {count}: {buckets:?}"));
                }
            }
        }
        Ok(())
    }

    /// The buckets (upper bound, cumulative count) of one series, by bound.
    fn buckets(&self, family: &str, series: &Labels) -> Vec<(f64, f64)> {
        let bucket = format!("{family}_bucket");
        let mut out: Vec<(f64, f64)> = (self.samples.iter())
            .filter(|((name, labels), _)| *name == bucket && without_le(labels) == *series)
            .map(|((_, labels), v)| (labels["le"].replace("+Inf", "inf").parse().expect("le is a number"), *v))
            .collect();
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        out
    }

    fn matching(&self, name: &str, labels: &[(&str, &str)]) -> impl Iterator<Item = (&Labels, f64)> {
        self.samples
            .iter()
            .filter(move |((n, l), _)| {
                n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(v))
            })
            .map(|((_, l), v)| (l, *v))
    }

    /// The sum of the values of sample `name` over the series with these labels (0 when there is none yet).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|(_, v)| v).sum()
    }

    /// How many observations histogram `family` holds over the series with these labels.
    pub fn observations(&self, family: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(&format!("{family}_count"), labels)
    }

    /// Every value of label `label` across the samples.
    pub fn label_values(&self, label: &str) -> Vec<String> {
        self.samples.keys().filter_map(|(_, labels)| labels.get(label).cloned()).collect()
    }
}

fn without_le(labels: &Labels) -> Labels {
    labels.iter().filter(|(k, _)| *k != "le").map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The family a sample belongs to: its name, or its name less a suffix its family's type allows.
fn family_of(name: &str, types: &HashMap<String, String>) -> Option<String> {
    let suffixes: &[(&str, &str)] =
        &[("_total", "counter"), ("_bucket", "histogram"), ("_sum", "histogram"), ("_count", "histogram")];
    if types.get(name).is_some_and(|kind| kind == "gauge") {
        return Some(name.to_string());
    }
    suffixes.iter().find_map(|(suffix, kind)| {
        let family = name.strip_suffix(suffix)?;
        (types.get(family)? == kind).then(|| family.to_string())
    })
}

/// `name{label="value",...} value`, with the escapes `\\`, `\"` and `\n` in label values.
fn sample(line: &str) -> Result<(String, Labels, f64), String> {
    let bad = || format!("not a sample line: {line:?}");
    let name_end = line.find(['{', ' ']).ok_or_else(bad)?;
    let name = &line[..name_end];
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        return Err(bad());
    }
    let mut labels = Labels::new();
    let mut rest = &line[name_end..];
    if let Some(mut inner) = rest.strip_prefix('{') {
        while !inner.starts_with('}') {
            let eq = inner.find("=\"").ok_or_else(bad)?;
            let key = inner[..eq].to_string();
            let mut value = String::new();
            let mut chars = inner[eq + 2..].char_indices();
            let end = loop {
                match chars.next().ok_or_else(bad)? {
                    (i, '"') => break eq + 2 + i + 1,
                    (_, '\\') => match chars.next().ok_or_else(bad)?.1 {
                        'n' => value.push('\n'),
                        c @ ('\\' | '"') => value.push(c),
                        _ => return Err(bad()),
                    },
                    (_, c) => value.push(c),
                }
            };
            labels.insert(key, value);
            inner = inner[end..].strip_prefix(',').unwrap_or(&inner[end..]);
        }
        rest = &inner[1..];
    }
    let value = rest.strip_prefix(' ').ok_or_else(bad)?;
    let value = value.replace("+Inf", "inf").parse().map_err(|_| bad())?;
    Ok((name.to_string(), labels, value))
}
