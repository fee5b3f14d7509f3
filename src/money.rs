//! Money is integer fen everywhere inside; the wire speaks yuan as JSON numbers (`150`, `2.5`).
//! These are the only two conversions.

/// Fen to yuan for a response. Exact for every amount below 2^53 fen.
pub fn to_yuan(fen: i64) -> f64 {
    fen as f64 / 100.0
}

/// Yuan from a request to fen. Rejects non-finite values and more than two decimals.
pub fn from_yuan(yuan: f64) -> Option<i64> {
    if !yuan.is_finite() || yuan.abs() > 1e13 {
        return None;
    }
    let fen = (yuan * 100.0).round();
    // 0.1 + 0.2 style noise is fine; 1.234 is not a price.
    if (fen - yuan * 100.0).abs() > 1e-6 {
        return None;
    }
    Some(fen as i64)
}

/// Serializes an `i64` fen field as yuan.
pub mod as_yuan {
    use serde::Serializer;

    pub fn serialize<S: Serializer>(fen: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(super::to_yuan(*fen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_both_ways_without_float_drift() {
        assert_eq!(from_yuan(150.0), Some(15000));
        assert_eq!(from_yuan(2.5), Some(250));
        assert_eq!(from_yuan(0.1 + 0.2), Some(30));
        assert_eq!(from_yuan(19.99), Some(1999));
        assert_eq!(from_yuan(1.234), None);
        assert_eq!(from_yuan(f64::NAN), None);
        assert_eq!(to_yuan(1999), 19.99);
        assert_eq!(serde_json::to_string(&to_yuan(15000)).unwrap(), "150.0");
    }
}
