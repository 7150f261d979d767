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

from rig.instruments.labjack_t7 import PilotReading

PWM_LOW_BELOW_V = -6.0
"""A PWM's low part is at -12 V; no steady pilot state is below -6 V except F, which has no positive part."""
MIN_SWING_V = 6.0


def pilot_from_samples(samples: list[float]) -> PilotReading:
    """Duty, high and low level from one window; "no PWM" (duty None) when it holds no full period."""
    if not samples:
        raise ValueError("no samples")
    hi, lo = max(samples), min(samples)
    if hi - lo < MIN_SWING_V or lo > PWM_LOW_BELOW_V or hi <= 0.0:
        return PilotReading(duty_pct=None, high_v=sum(samples) / len(samples), low_v=None)
    threshold = (hi + lo) / 2.0
    rising = [k for k in range(1, len(samples)) if samples[k] > threshold >= samples[k - 1]]
    if len(rising) < 2:
        # less than one whole period: the PWM started or stopped in this window; no duty from half a period
        high = [v for v in samples if v > threshold]
        return PilotReading(duty_pct=None, high_v=sum(high) / len(high), low_v=None)
    span = samples[rising[0]:rising[-1]]
    high_n = 0
    high_sum = low_sum = 0.0
    for v in span:
        if v > threshold:
            high_n += 1
            high_sum += v
        else:
            low_sum += v
    low_n = len(span) - high_n
    return PilotReading(duty_pct=100.0 * high_n / len(span), high_v=high_sum / high_n if high_n else hi,
                        low_v=low_sum / low_n if low_n else lo)
