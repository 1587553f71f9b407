//! Cross-margin risk: collateral haircuts, size-scaled margin fractions and the vectorized scan.
//! (Being written; see the issue on the Exchange.)
