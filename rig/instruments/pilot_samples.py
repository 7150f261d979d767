"""A pilot from a window of samples: what a streamed divider front end sees of a unit's +/-12 V, 1 kHz pilot.

The samples are pilot volts (the analog input times the divider ratio). A PWM shows as samples at the positive
level and at about -12 V; a pilot without PWM is one steady level. The duty is counted over whole periods only
(from the first rising edge to the last), so a PWM that starts or stops inside the window, or a window that
does not hold a whole number of periods, does not skew it.

Resolution: one window of N samples over K periods resolves the duty to 1/N of a period when the stream clock
walks through the PWM's phase (a scan rate that is not a whole multiple of the PWM frequency: 20 020 Hz against
1 kHz walks 1/1001 of a period each period), and only to one sample step per period (5 % at 20 samples per
period) if the two clocks happen to be locked.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rig.instruments.labjack_t7 import PilotReading

PWM_LOW_BELOW_V = -6.0
"""A PWM's low part is at -12 V; no steady pilot state is below -6 V except F, which has no positive part."""
MIN_SWING_V = 6.0


def pilot_from_samples(samples: Sequence[float] | np.ndarray) -> PilotReading:
    """Duty, high and low level from one window; "no PWM" (duty None) when it holds no full period."""
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        raise ValueError("no samples")
    hi, lo = float(x.max()), float(x.min())
    if hi - lo < MIN_SWING_V or lo > PWM_LOW_BELOW_V or hi <= 0.0:
        return PilotReading(duty_pct=None, high_v=float(x.mean()), low_v=None)
    threshold = (hi + lo) / 2.0
    above = x > threshold
    rising = np.flatnonzero(above[1:] & ~above[:-1]) + 1  # samples[k] > threshold >= samples[k - 1]
    if rising.size < 2:
        # less than one whole period: the PWM started or stopped in this window; no duty from half a period
        return PilotReading(duty_pct=None, high_v=float(x[above].mean()), low_v=None)
    span, high = x[rising[0]:rising[-1]], above[rising[0]:rising[-1]]
    high_n = int(high.sum())
    low_n = span.size - high_n
    return PilotReading(duty_pct=100.0 * high_n / span.size,
                        high_v=float(span[high].mean()) if high_n else hi,
                        low_v=float(span[~high].mean()) if low_n else lo)
