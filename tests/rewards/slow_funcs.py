"""User functions for python-check tests: one that never returns, one that returns NaN."""

import time


def forever(sample):
    while True:  # a stuck user function: the check must abstain at its limit
        time.sleep(0.05)


def nan(sample):
    return float("nan")
