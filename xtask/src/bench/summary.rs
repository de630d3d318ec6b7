//! Per-run samples and their summary per workload and configuration.

use serde::Serialize;

use super::agent::{ProgramStats, Totals};

/// One workload run under one configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub round: u32,
    pub workload: &'static str,
    pub config: &'static str,
    /// The workload's own wall time (its timed loop only).
    pub wall_ns: u64,
    /// Tracing BPF programs loaded on the machine that are not this run's
    /// agent's (other users' tracers and tests), after the workload: they
    /// slow every syscall too.
    pub other_tracing_programs: usize,
    pub agent: Option<AgentSample>,
}

/// What the agent did while the workload ran.
#[derive(Debug, Clone, Serialize)]
pub struct AgentSample {
    /// Agent user + system CPU time during the workload, as a percentage of
    /// one core over the same window (the workload process's lifetime).
    pub cpu_percent: f64,
    pub peak_rss_kib: u64,
    /// Resident set size when the workload ended.
    pub end_rss_kib: u64,
    /// Seconds from attached to stopped (settle time + workload).
    pub attached_secs: f64,
    /// The agent's own totals (events delivered, records dropped).
    pub totals: Totals,
    /// BPF programs of the agent, run statistics over the agent's life.
    pub programs: Vec<ProgramStats>,
}

impl AgentSample {
    fn bpf(&self) -> (u64, u64) {
        self.programs
            .iter()
            .fold((0, 0), |(t, n), p| (t + p.run_time_ns, n + p.run_cnt))
    }

    pub fn bpf_ns_per_run(&self) -> Option<f64> {
        let (t, n) = self.bpf();
        (t > 0 && n > 0).then(|| t as f64 / n as f64)
    }

    pub fn bpf_ns_per_event(&self) -> Option<f64> {
        let (t, _) = self.bpf();
        let events = self.totals.events?;
        (t > 0 && events > 0).then(|| t as f64 / events as f64)
    }

    pub fn events_per_sec(&self) -> Option<f64> {
        let events = self.totals.events?;
        (self.attached_secs > 0.0).then(|| events as f64 / self.attached_secs)
    }
}

/// Median, quartiles and range of a set of values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// First and third quartiles (linear interpolation between ranks).
    pub p25: f64,
    pub p75: f64,
    pub n: usize,
}

impl Spread {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Spread> {
        let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let quantile = |q: f64| {
            let pos = q * (n - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
        };
        Some(Spread {
            median: quantile(0.5),
            min: v[0],
            max: v[n - 1],
            p25: quantile(0.25),
            p75: quantile(0.75),
            n,
        })
    }

    /// `threshold` lies between the quartiles: rounds fall on both sides of
    /// it, so a verdict from the median alone is not reliable.
    pub fn straddles(&self, threshold: f64) -> bool {
        self.p25 <= threshold && threshold <= self.p75
    }

    /// The same spread with every value mapped by an increasing function.
    pub fn map(self, f: impl Fn(f64) -> f64) -> Spread {
        Spread {
            median: f(self.median),
            min: f(self.min),
            max: f(self.max),
            p25: f(self.p25),
            p75: f(self.p75),
            n: self.n,
        }
    }
}

/// A floor overhead below this is indistinguishable from noise; dividing by
/// it would give meaningless ratios.
const MIN_FLOOR_OVERHEAD: f64 = 0.005;

/// One row of the report: a workload under a configuration, over all rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub workload: &'static str,
    pub config: &'static str,
    pub rounds: usize,
    pub wall_ms: Option<Spread>,
    /// Wall time under this configuration / under `none`, paired by round.
    pub slowdown: Option<Spread>,
    /// (median slowdown - 1) / (the floor's median slowdown - 1).
    pub overhead_vs_floor: Option<f64>,
    /// The range that ratio can take within the slowdowns' interquartile
    /// ranges: (p25 - 1) / (floor's p75 - 1) to (p75 - 1) / (floor's p25 - 1);
    /// the upper end is infinite when the floor's p25 shows no overhead.
    pub overhead_vs_floor_range: Option<(f64, f64)>,
    pub agent_cpu_percent: Option<Spread>,
    /// Largest peak RSS over the rounds, MiB.
    pub peak_rss_mib: Option<f64>,
    /// Median RSS when the workload ended, MiB.
    pub end_rss_mib: Option<f64>,
    pub bpf_ns_per_run: Option<Spread>,
    pub bpf_ns_per_event: Option<Spread>,
    pub events_per_sec: Option<Spread>,
    /// Drops summed over the rounds (None: the agent does not report them).
    pub drops: Option<u64>,
}

pub fn summarize(
    samples: &[Sample],
    workloads: &[&'static str],
    configs: &[&'static str],
) -> Vec<Summary> {
    let wall = |w: &str, c: &str, round: u32| {
        samples
            .iter()
            .find(|s| s.workload == w && s.config == c && s.round == round)
            .map(|s| s.wall_ns as f64)
    };
    let mut out = Vec::new();
    for &w in workloads {
        let mut rows: Vec<Summary> = Vec::new();
        for &c in configs {
            let mine: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.workload == w && s.config == c)
                .collect();
            let agents: Vec<&AgentSample> = mine.iter().filter_map(|s| s.agent.as_ref()).collect();
            let slowdown = Spread::of(mine.iter().filter_map(|s| {
                let base = wall(w, "none", s.round)?;
                (base > 0.0).then(|| s.wall_ns as f64 / base)
            }));
            let drops = agents
                .iter()
                .map(|a| a.totals.drops)
                .try_fold(0u64, |acc, d| Some(acc + d?))
                .filter(|_| !agents.is_empty());
            rows.push(Summary {
                workload: w,
                config: c,
                rounds: mine.len(),
                wall_ms: Spread::of(mine.iter().map(|s| s.wall_ns as f64 / 1e6)),
                slowdown,
                overhead_vs_floor: None,
                overhead_vs_floor_range: None,
                agent_cpu_percent: Spread::of(agents.iter().map(|a| a.cpu_percent)),
                peak_rss_mib: agents
                    .iter()
                    .map(|a| a.peak_rss_kib as f64 / 1024.0)
                    .reduce(f64::max),
                end_rss_mib: Spread::of(agents.iter().map(|a| a.end_rss_kib as f64 / 1024.0))
                    .map(|s| s.median),
                bpf_ns_per_run: Spread::of(agents.iter().filter_map(|a| a.bpf_ns_per_run())),
                bpf_ns_per_event: Spread::of(agents.iter().filter_map(|a| a.bpf_ns_per_event())),
                events_per_sec: Spread::of(agents.iter().filter_map(|a| a.events_per_sec())),
                drops,
            });
        }
        let floor = rows
            .iter()
            .find(|r| r.config == "floor")
            .and_then(|r| r.slowdown)
            .map(|s| s.median - 1.0)
            .filter(|o| *o >= MIN_FLOOR_OVERHEAD);
        let floor_iqr = rows
            .iter()
            .find(|r| r.config == "floor")
            .and_then(|r| r.slowdown)
            .map(|s| (s.p25 - 1.0, s.p75 - 1.0));
        for r in &mut rows {
            if r.config != "none" {
                r.overhead_vs_floor = floor.zip(r.slowdown).map(|(f, s)| (s.median - 1.0) / f);
                r.overhead_vs_floor_range =
                    floor.and(floor_iqr).zip(r.slowdown).map(|((f25, f75), s)| {
                        let hi = if f25 > 0.0 {
                            (s.p75 - 1.0) / f25
                        } else {
                            f64::INFINITY
                        };
                        ((s.p25 - 1.0) / f75, hi)
                    });
            }
        }
        out.extend(rows);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_median_and_range() {
        let s = Spread::of([3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        assert_eq!((s.p25, s.p75), (1.5, 2.5));
        assert!(s.straddles(2.2) && !s.straddles(2.6));
        assert_eq!(Spread::of([1.0, 4.0]).unwrap().median, 2.5);
        assert_eq!(Spread::of([]), None);
    }

    fn sample(round: u32, config: &'static str, wall_ns: u64) -> Sample {
        Sample {
            round,
            workload: "w",
            config,
            wall_ns,
            other_tracing_programs: 0,
            agent: None,
        }
    }

    #[test]
    fn slowdown_pairs_rounds_and_overhead_is_relative_to_the_floor() {
        let samples = [
            sample(0, "none", 100),
            sample(0, "floor", 110),
            sample(0, "saker", 115),
            // A slower round for everyone: ratios, not times, are compared.
            sample(1, "none", 200),
            sample(1, "floor", 220),
            sample(1, "saker", 230),
        ];
        let rows = summarize(&samples, &["w"], &["none", "floor", "saker"]);
        let saker = &rows[2];
        let s = saker.slowdown.unwrap();
        assert!((s.median - 1.15).abs() < 1e-9 && (s.min - 1.15).abs() < 1e-9);
        assert!((saker.overhead_vs_floor.unwrap() - 1.5).abs() < 1e-9);
        let (lo, hi) = saker.overhead_vs_floor_range.unwrap();
        assert!((lo - 1.5).abs() < 1e-9 && (hi - 1.5).abs() < 1e-9);
        assert_eq!(rows[0].overhead_vs_floor, None);
    }

    #[test]
    fn no_ratio_to_a_floor_lost_in_noise() {
        let samples = [
            sample(0, "none", 1000),
            sample(0, "floor", 1001),
            sample(0, "saker", 1100),
        ];
        let rows = summarize(&samples, &["w"], &["none", "floor", "saker"]);
        assert_eq!(rows[2].overhead_vs_floor, None);
    }
}
