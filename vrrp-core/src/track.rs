//! Tracked objects and keepalived's weight rule, the one place it is written down.
//!
//! A tracked object (a health check, an interface, a file) is up or down and has a weight.
//! [`Track::effect`] says what that means for the instance ([`TrackEffect`]);
//! [`Instance::effective_priority`](crate::Instance::effective_priority),
//! [`Instance::fault`](crate::Instance::fault) and
//! [`Instance::tracks`](crate::Instance::tracks) all go through it, so callers (a status page,
//! metrics) read the effect instead of recomputing it.

/// A tracked object (a health check, an interface, a file) whose state moves the priority.
///
/// The weight has keepalived's meaning (see [`Track::effect`]): a positive weight is added to
/// the priority while the object is up, a negative weight is added while it is down, and a
/// weight of 0 puts the instance in Fault while the object is down.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Track {
    /// Name used in commands and reports; unique within an instance.
    pub name: String,
    /// -254 to 254 ([`Track::MAX_WEIGHT`]); 0 means "fault when down".
    pub weight: i16,
    /// Whether the object is considered up before its first report.
    pub initially_up: bool,
}

impl Track {
    /// The largest weight magnitude, as in keepalived: weights go from -254 to 254.
    pub const MAX_WEIGHT: i16 = 254;

    /// A tracked object that is up until reported otherwise.
    #[must_use]
    pub fn new(name: impl Into<String>, weight: i16) -> Self {
        Self {
            name: name.into(),
            weight,
            initially_up: true,
        }
    }

    /// keepalived's weight rule: what a tracked object of `weight` that is `up` (or down)
    /// does to its instance.
    ///
    /// | weight | up                     | down                   |
    /// |--------|------------------------|------------------------|
    /// | > 0    | `Adjust(weight)`       | `None`                 |
    /// | < 0    | `None`                 | `Adjust(weight)`       |
    /// | 0      | `None`                 | `Fault`                |
    ///
    /// The adjustments of all tracked objects are summed and added to the base priority, and
    /// the result clamped to 1 to 254; the address owner's 255 is never adjusted
    /// ([`Instance::effective_priority`](crate::Instance::effective_priority)). Any `Fault`
    /// makes the instance ineligible ([`Reason::TrackFailed`](crate::Reason::TrackFailed)).
    #[must_use]
    pub const fn effect(weight: i16, up: bool) -> TrackEffect {
        match (weight, up) {
            (0, false) => TrackEffect::Fault,
            (w, true) if w > 0 => TrackEffect::Adjust(w as i32),
            (w, false) if w < 0 => TrackEffect::Adjust(w as i32),
            _ => TrackEffect::None,
        }
    }

    /// A weight brought into -254 to 254 ([`Track::MAX_WEIGHT`]).
    #[must_use]
    pub const fn clamp_weight(weight: i16) -> i16 {
        if weight > Self::MAX_WEIGHT {
            Self::MAX_WEIGHT
        } else if weight < -Self::MAX_WEIGHT {
            -Self::MAX_WEIGHT
        } else {
            weight
        }
    }

    /// Whether `weight` is within -254 to 254 ([`Track::MAX_WEIGHT`]).
    #[must_use]
    pub const fn weight_in_range(weight: i16) -> bool {
        weight >= -Self::MAX_WEIGHT && weight <= Self::MAX_WEIGHT
    }
}

/// What one tracked object does to its instance right now ([`Track::effect`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrackEffect {
    /// Nothing: a positive weight while down, a negative one while up, or weight 0 while up.
    None,
    /// This is added to the base priority: a positive weight while up, or a negative weight
    /// while down.
    Adjust(i32),
    /// The instance is not eligible and goes to Fault: weight 0 while down.
    Fault,
}

impl TrackEffect {
    /// The priority adjustment: the weight for [`Adjust`](Self::Adjust), else 0.
    #[must_use]
    pub const fn adjustment(self) -> i32 {
        match self {
            Self::Adjust(n) => n,
            Self::None | Self::Fault => 0,
        }
    }
}

/// One tracked object of an instance as it stands, from
/// [`Instance::tracks`](crate::Instance::tracks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TrackStatus<'a> {
    /// The tracked object's name.
    pub name: &'a str,
    /// Its current weight (set by configuration, or by
    /// [`Instance::set_track_weighted`](crate::Instance::set_track_weighted)).
    pub weight: i16,
    /// Whether it is up.
    pub up: bool,
    /// What it does to the instance: [`Track::effect`] of `weight` and `up`.
    pub effect: TrackEffect,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_weight_rule() {
        assert_eq!(Track::effect(10, true), TrackEffect::Adjust(10));
        assert_eq!(Track::effect(10, false), TrackEffect::None);
        assert_eq!(Track::effect(-20, true), TrackEffect::None);
        assert_eq!(Track::effect(-20, false), TrackEffect::Adjust(-20));
        assert_eq!(Track::effect(0, true), TrackEffect::None);
        assert_eq!(Track::effect(0, false), TrackEffect::Fault);
        assert_eq!(Track::effect(-20, false).adjustment(), -20);
        assert_eq!(TrackEffect::Fault.adjustment(), 0);
        assert_eq!(Track::clamp_weight(900), 254);
        assert_eq!(Track::clamp_weight(i16::MIN), -254);
        assert_eq!(Track::clamp_weight(-3), -3);
        assert!(Track::weight_in_range(-254) && Track::weight_in_range(254));
        assert!(!Track::weight_in_range(255) && !Track::weight_in_range(-255));
    }
}
