"""Predictive models as pure numeric code (numpy and scipy, no database, no services): each
fits on arrays and predicts on arrays, so it can be checked against published results on its
own. `sojourn.services` feeds them from `sojourn.data` and stores what they predict."""
