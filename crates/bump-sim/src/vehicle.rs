/*!
Suspension: a quarter-car per axle.

State `[z_s, v_s, z_u, v_u]` (sprung and unsprung mass displacement and
velocity), driven by the road height `z_r` under the tyre:

```text
m_s z_s'' = −k_s (z_s − z_u) − c_s (v_s − v_u)
m_u z_u'' =  k_s (z_s − z_u) + c_s (v_s − v_u) − k_t (z_u − z_r)
```

It is discretised exactly for a zero-order-hold input (`A = e^{A_c Δt}`,
`B = A_c⁻¹ (A − I) B_c`, via nalgebra), so it is stable at any step. A
half-car is approximated by two quarter-cars, front and rear, one
wheelbase apart: the phone, in the front half of the cabin, feels 0.7 of
the front and 0.3 of the rear body acceleration, so the two axles hit a
defect in turn, as real cars do (pitch is otherwise neglected).

Typical values (per corner): sprung 250–450 kg, unsprung 35–50 kg, spring
15–40 kN/m, damper 1–3.5 kN·s/m, tyre 180–250 kN/m, giving body bounce at
1–2 Hz and wheel hop at 10–14 Hz.
*/

use nalgebra::{Matrix4, Vector4};
use serde::{Deserialize, Serialize};

/// Quarter-car parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuarterCar {
    /// Sprung mass, kg.
    pub sprung_kg: f64,
    /// Unsprung mass, kg.
    pub unsprung_kg: f64,
    /// Spring rate, N/m.
    pub spring_npm: f64,
    /// Damping, N·s/m.
    pub damper_nspm: f64,
    /// Tyre stiffness, N/m.
    pub tyre_npm: f64,
}

impl QuarterCar {
    /// A soft family car.
    #[must_use]
    pub const fn soft() -> Self {
        Self {
            sprung_kg: 350.0,
            unsprung_kg: 40.0,
            spring_npm: 18_000.0,
            damper_nspm: 1_300.0,
            tyre_npm: 200_000.0,
        }
    }

    /// A stiff, sporty car or a loaded van.
    #[must_use]
    pub const fn stiff() -> Self {
        Self {
            sprung_kg: 300.0,
            unsprung_kg: 45.0,
            spring_npm: 38_000.0,
            damper_nspm: 3_200.0,
            tyre_npm: 240_000.0,
        }
    }

    fn continuous(&self) -> (Matrix4<f64>, Vector4<f64>) {
        let (ms, mu, ks, cs, kt) = (
            self.sprung_kg,
            self.unsprung_kg,
            self.spring_npm,
            self.damper_nspm,
            self.tyre_npm,
        );
        #[rustfmt::skip]
        let a = Matrix4::new(
            0.0, 1.0, 0.0, 0.0,
            -ks / ms, -cs / ms, ks / ms, cs / ms,
            0.0, 0.0, 0.0, 1.0,
            ks / mu, cs / mu, -(ks + kt) / mu, -cs / mu,
        );
        (a, Vector4::new(0.0, 0.0, 0.0, kt / mu))
    }

    /// Body bounce natural frequency, Hz (undamped, tyre rigid).
    #[must_use]
    pub fn body_hz(&self) -> f64 {
        let k = self.spring_npm * self.tyre_npm / (self.spring_npm + self.tyre_npm);
        (k / self.sprung_kg).sqrt() / (2.0 * std::f64::consts::PI)
    }
}

/// A quarter-car discretised at a fixed step.
#[derive(Debug, Clone)]
pub struct Suspension {
    a: Matrix4<f64>,
    b: Vector4<f64>,
    accel_row: nalgebra::RowVector4<f64>,
    x: Vector4<f64>,
}

impl Suspension {
    /// Discretises `car` at step `dt_s`, at rest on a road at height 0.
    ///
    /// # Panics
    /// Never for physical parameters (the continuous matrix is invertible
    /// whenever the tyre stiffness is positive).
    #[must_use]
    pub fn new(car: &QuarterCar, dt_s: f64) -> Self {
        let (ac, bc) = car.continuous();
        let a = (ac * dt_s).exp();
        let inv = ac.try_inverse().unwrap_or_else(Matrix4::identity);
        let b = inv * (a - Matrix4::identity()) * bc;
        Self {
            a,
            b,
            accel_row: ac.row(1).into_owned(),
            x: Vector4::zeros(),
        }
    }

    /// Places the car at rest on a road at height `z_r`.
    pub fn settle(&mut self, z_r: f64) {
        self.x = Vector4::new(z_r, 0.0, z_r, 0.0);
    }

    /// Advances one step with road height `z_r` under the tyre; returns the
    /// body's vertical acceleration after the step, m/s².
    #[inline]
    pub fn step(&mut self, z_r: f64) -> f64 {
        self.x = self.a * self.x + self.b * z_r;
        (self.accel_row * self.x)[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequencies_are_physical() {
        for car in [QuarterCar::soft(), QuarterCar::stiff()] {
            let f = car.body_hz();
            assert!((0.9..2.0).contains(&f), "{f}");
        }
    }

    #[test]
    fn step_up_then_rest() {
        // A 5 cm step: the body first accelerates upward, and the car comes
        // to rest on the new level.
        let mut s = Suspension::new(&QuarterCar::soft(), 1.0 / 400.0);
        s.settle(0.0);
        let a: Vec<f64> = (0..4000).map(|_| s.step(0.05)).collect();
        let first = a.iter().find(|v| v.abs() > 0.1).copied().unwrap();
        assert!(first > 0.0);
        assert!(a[3999].abs() < 1e-3);
        assert!((s.x[0] - 0.05).abs() < 1e-4);
    }

    #[test]
    fn dip_goes_down_first() {
        let mut s = Suspension::new(&QuarterCar::stiff(), 1.0 / 400.0);
        s.settle(0.0);
        let a: Vec<f64> = (0..400)
            .map(|i| s.step(if (10..30).contains(&i) { -0.04 } else { 0.0 }))
            .collect();
        let first = a.iter().find(|v| v.abs() > 0.1).copied().unwrap();
        assert!(first < 0.0);
    }
}
