/*!
Features of one event window of vertical acceleration, for the
window-level classifier ([`crate::forest`]).

A window is a short recording around one event (the layout of the
González et al. set: one CSV of 50 Hz vertical acceleration per window,
in m/s², gravity included). The mean is removed first, so gravity and
the phone's tilt do not matter. The window's length is deliberately not
a feature: in labelled sets it often says more about how windows were cut
than about the road.
*/

use bump_dsp::BandEnergy;

/// Feature names, in [`window_features`] order.
pub const WINDOW_FEATURES: [&str; 13] = [
    "ln_std_mps2",
    "ln_peak_mps2",
    "crest",
    "kurtosis",
    "skewness",
    "up_first",
    "ln_duration_s",
    "zero_crossing_rate",
    "peaks_above_half",
    "band_0_5_2",
    "band_2_5",
    "band_5_10",
    "band_10_25",
];

/// The features of a window sampled at `fs_hz`. Windows shorter than four
/// samples give NaN features.
#[must_use]
pub fn window_features(x: &[f64], fs_hz: f64) -> [f64; 13] {
    let n = x.len();
    if n < 4 || !fs_hz.is_finite() || fs_hz <= 0.0 {
        return [f64::NAN; 13];
    }
    #[allow(clippy::cast_precision_loss, reason = "window lengths are small")]
    let nf = n as f64;
    let mean = x.iter().sum::<f64>() / nf;
    let v: Vec<f64> = x.iter().map(|a| a - mean).collect();
    let m2 = v.iter().map(|a| a * a).sum::<f64>() / nf;
    let sd = m2.sqrt().max(1e-9);
    let m3 = v.iter().map(|a| a.powi(3)).sum::<f64>() / nf;
    let m4 = v.iter().map(|a| a.powi(4)).sum::<f64>() / nf;
    let peak = v.iter().fold(0.0f64, |m, a| m.max(a.abs()));
    let half = 0.5 * peak;
    let up_first = v
        .iter()
        .find(|a| a.abs() > half)
        .map_or(0.5, |a| if *a > 0.0 { 1.0 } else { 0.0 });
    #[allow(clippy::cast_precision_loss, reason = "window lengths are small")]
    let above = v.iter().filter(|a| a.abs() > half).count() as f64;
    #[allow(clippy::cast_precision_loss, reason = "window lengths are small")]
    let crossings = v.windows(2).filter(|w| w[0] * w[1] < 0.0).count() as f64 / (nf - 1.0);
    // Local maxima of |a| above half the peak, at least 0.1 s apart.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "small positive")]
    let gap = ((0.1 * fs_hz).round() as usize).max(1);
    let mut peaks = 0.0;
    let mut last: Option<usize> = None;
    for i in 1..n - 1 {
        let (a, b, c) = (v[i - 1].abs(), v[i].abs(), v[i + 1].abs());
        if b > half && b >= a && b >= c && last.is_none_or(|l| i - l >= gap) {
            peaks += 1.0;
            last = Some(i);
        }
    }
    let mut bands = [0.0; 4];
    BandEnergy::new(n).bands(&v, fs_hz, &[0.5, 2.0, 5.0, 10.0, 25.0], &mut bands);
    let total: f64 = bands.iter().filter(|b| b.is_finite()).sum::<f64>().max(1e-12);
    [
        sd.ln(),
        peak.max(1e-9).ln(),
        peak / sd,
        m4 / (m2 * m2).max(1e-18) - 3.0,
        m3 / sd.powi(3),
        up_first,
        (above / fs_hz + 0.02).ln(),
        crossings,
        peaks,
        bands[0] / total,
        bands[1] / total,
        bands[2] / total,
        bands[3] / total,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hump_and_a_hole_differ_where_they_should() {
        let fs = 50.0;
        let hump: Vec<f64> = (0..100)
            .map(|i| {
                9.81 + if (40..60).contains(&i) {
                    3.0 * (std::f64::consts::PI * f64::from(i - 40) / 20.0).sin()
                } else {
                    0.0
                }
            })
            .collect();
        let hole: Vec<f64> = (0..100)
            .map(|i| {
                9.81 + match i {
                    50 => -6.0,
                    51 => 5.0,
                    52 => -2.0,
                    _ => 0.0,
                }
            })
            .collect();
        let (h, p) = (window_features(&hump, fs), window_features(&hole, fs));
        assert_eq!(h[5], 1.0, "hump goes up first");
        assert_eq!(p[5], 0.0, "hole goes down first");
        assert!(h[6] > p[6], "hump lasts longer");
        assert!(h[9] + h[10] > p[9] + p[10], "hump is lower in frequency");
        assert!(window_features(&[1.0, 2.0], fs)[0].is_nan());
    }
}
