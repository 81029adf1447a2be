//! CartPole, the classic pole-balancing task (Barto, Sutton and Anderson 1983), with the
//! constants and the explicit Euler step of gym's `CartPole-v1`.
//!
//! A pole is hinged on a cart that moves on a track; each step pushes the cart left or right
//! with a force of 10 N. The state is `[x, x_dot, theta, theta_dot]` (cart position and
//! velocity, pole angle from the vertical and its angular velocity). An episode ends when the
//! pole leans more than 12 degrees, the cart leaves `|x| <= 2.4`, or after 500 steps; every
//! step earns a reward of 1, so the return of an episode is its length.

/// Gravity (m/s²).
pub const GRAVITY: f64 = 9.8;
/// The cart's mass (kg).
pub const MASS_CART: f64 = 1.0;
/// The pole's mass (kg).
pub const MASS_POLE: f64 = 0.1;
/// Half the pole's length (m).
pub const HALF_LENGTH: f64 = 0.5;
/// The force of a push (N).
pub const FORCE: f64 = 10.0;
/// The time step (s).
pub const TAU: f64 = 0.02;
/// The pole angle (rad) beyond which an episode ends: 12 degrees.
pub const THETA_LIMIT: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
/// The cart position beyond which an episode ends (m).
pub const X_LIMIT: f64 = 2.4;
/// The most steps of an episode.
pub const MAX_STEPS: usize = 500;

/// One CartPole episode: the state and the steps taken.
#[derive(Clone, Debug)]
pub struct CartPole {
    /// `[x, x_dot, theta, theta_dot]`.
    pub state: [f64; 4],
    /// Steps taken so far.
    pub steps: usize,
}

impl CartPole {
    /// An episode starting from `state`.
    pub fn new(state: [f64; 4]) -> CartPole {
        CartPole { state, steps: 0 }
    }

    /// An episode starting from a state with each component uniform in `[-0.05, 0.05)`, from
    /// `uniform`, a source of uniform draws in `[0, 1)`.
    pub fn reset(mut uniform: impl FnMut() -> f64) -> CartPole {
        CartPole::new(std::array::from_fn(|_| 0.1 * uniform() - 0.05))
    }

    /// Pushes the cart left (`action` 0) or right (1) for one time step and returns
    /// `(reward, done)`: the reward is 1 for every step, including the last; `done` says the
    /// pole fell, the cart left the track, or the episode reached [`MAX_STEPS`].
    pub fn step(&mut self, action: usize) -> (f64, bool) {
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if action == 1 { FORCE } else { -FORCE };
        let total_mass = MASS_CART + MASS_POLE;
        let pole_mass_length = MASS_POLE * HALF_LENGTH;
        let (sin, cos) = theta.sin_cos();
        // The equations of motion of the cart-pole without friction (Florian 2007, as gym).
        let temp = (force + pole_mass_length * theta_dot * theta_dot * sin) / total_mass;
        let theta_acc = (GRAVITY * sin - cos * temp)
            / (HALF_LENGTH * (4.0 / 3.0 - MASS_POLE * cos * cos / total_mass));
        let x_acc = temp - pole_mass_length * theta_acc * cos / total_mass;
        // Explicit Euler: positions move with the old velocities.
        self.state = [
            x + TAU * x_dot,
            x_dot + TAU * x_acc,
            theta + TAU * theta_dot,
            theta_dot + TAU * theta_acc,
        ];
        self.steps += 1;
        let [x, _, theta, _] = self.state;
        let fell = x.abs() > X_LIMIT || theta.abs() > THETA_LIMIT;
        (1.0, fell || self.steps >= MAX_STEPS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(got: [f64; 4], want: [f64; 4]) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn cartpole_steps_match_hand_computed_values() {
        // From rest, pushing right: sin = 0, so temp = 10 / 1.1 = 9.090909,
        // theta_acc = -temp / (0.5 (4/3 - 0.1 / 1.1)) = -9.090909 / 0.621212 = -14.634146,
        // x_acc = temp + 0.05 * 14.634146 / 1.1 = 9.756098. Euler moves the velocities only.
        let mut env = CartPole::new([0.0; 4]);
        assert_eq!(env.step(1), (1.0, false));
        assert_close(env.state, [0.0, 0.195122, 0.0, -0.292683]);
        // The second step moves the positions with the first step's velocities; theta is still
        // 0 when the accelerations are taken, so they repeat.
        assert_eq!(env.step(1), (1.0, false));
        assert_close(
            env.state,
            [0.00390244, 0.39024390, -0.00585366, -0.58536585],
        );

        // Leaning 0.1 rad and spinning at 0.5 rad/s, pushing left: sin = 0.0998334,
        // cos = 0.9950042, temp = (-10 + 0.05 * 0.25 * 0.0998334) / 1.1 = -9.0897746,
        // theta_acc = (0.9783675 + 9.0443636) / (0.5 (4/3 - 0.1 * 0.9900333 / 1.1))
        //           = 10.0227311 / 0.6216652 = 16.1223949,
        // x_acc = -9.0897746 - 0.05 * 16.1223949 * 0.9950042 / 1.1 = -9.8189496.
        let mut env = CartPole::new([0.1, -0.2, 0.1, 0.5]);
        assert_eq!(env.step(0), (1.0, false));
        assert_close(env.state, [0.096, -0.396379, 0.11, 0.822448]);
    }

    #[test]
    fn cartpole_ends_past_12_degrees_past_the_track_or_at_500_steps() {
        let mut env = CartPole::new([0.0, 0.0, 0.2094, 0.1]);
        assert!(
            env.step(1).1,
            "theta 0.2094 + 0.002 is past 12 degrees (0.20944)"
        );
        let mut env = CartPole::new([2.399, 0.1, 0.0, 0.0]);
        assert!(env.step(1).1, "x 2.399 + 0.002 is past 2.4");
        let mut env = CartPole::new([0.0; 4]);
        env.steps = MAX_STEPS - 1;
        assert_eq!(env.step(0), (1.0, true));
    }

    #[test]
    fn cartpole_reset_is_within_0_05() {
        let mut s = 0.0;
        let env = CartPole::reset(|| {
            s += 0.3;
            s % 1.0
        });
        assert!(env.state.iter().all(|v| v.abs() <= 0.05), "{:?}", env.state);
        assert_eq!(env.steps, 0);
    }
}
