"""A/B experiments: the definition (EXPERIMENT, EXPERIMENT_FILE), the split of users into arms,
and the statistics the report judges arms by (no back end needed)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from scipy import stats

from movierec.config import SettingsError, load_settings
from movierec.recommender.online_metrics import (
    ArmCounts,
    compare,
    summarise,
    two_proportion_p_value,
)
from movierec.services.experiments import (
    Experiment,
    ExperimentError,
    parse_experiment,
    read_experiment_file,
)


def test_the_split_follows_the_weights_and_is_the_same_everywhere() -> None:
    experiment = parse_experiment("ab1:puresvd=70,popular=30")
    arms = Counter(experiment.arm_of(user).name for user in range(1, 20_001))
    assert abs(arms["puresvd"] / 20_000 - 0.70) < 0.015
    assert abs(arms["popular"] / 20_000 - 0.30) < 0.015
    # Another process (or refresh) parsing the same definition puts everyone in the same arm.
    again = parse_experiment("ab1 : puresvd=70, popular=30")
    assert all(experiment.arm_of(u) == again.arm_of(u) for u in range(1, 2001))
    # A new experiment name reshuffles: about half of the users change arm at 50/50.
    first = parse_experiment("ab1:puresvd=1,popular=1")
    second = parse_experiment("ab2:puresvd=1,popular=1")
    moved = sum(first.arm_of(u).name != second.arm_of(u).name for u in range(1, 10_001))
    assert 4500 < moved < 5500


def test_the_published_form_round_trips() -> None:
    experiment = Experiment.from_dict(
        {
            "name": "factors",
            "arms": [
                {"arm": "f24", "ranker": "puresvd", "weight": 1, "params": {"n_factors": 24}},
                {"arm": "f64", "ranker": "puresvd", "weight": 3, "params": {"n_factors": 64}},
            ],
        }
    )
    again = Experiment.from_dict(json.loads(json.dumps(experiment.to_dict())))
    assert again == experiment
    assert experiment.share(experiment.arm("f64")) == 0.75
    assert [experiment.arm_of(u) for u in range(100)] == [again.arm_of(u) for u in range(100)]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ab1", "is not NAME:RANKER=WEIGHT"),
        ("ab1:puresvd=50", "at least two arms"),
        ("ab1:puresvd=50,puresvd=50", "arm names must differ"),
        ("ab1:puresvd=50,magic=50", "unknown ranker 'magic'"),
        ("ab1:puresvd=-1,popular=1", "the weight must be > 0"),
        ("ab1:puresvd=x,popular=1", "weight 'x' is no number"),
        ("a b:puresvd=1,popular=1", "experiment name 'a b'"),
        ("ab1:puresvd,popular=1", "is not RANKER=WEIGHT"),
    ],
)
def test_a_bad_experiment_is_one_line_naming_the_setting(spec: str, message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(EXPERIMENT=spec)
    text = str(raised.value)
    assert text.startswith("invalid setting EXPERIMENT: ") and message in text
    assert "\n" not in text


def test_an_experiment_file_may_name_arms_and_tune_their_rankers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "experiment.json"
    path.write_text(
        json.dumps(
            {
                "name": "damping",
                "arms": [
                    {"arm": "plain", "ranker": "puresvd", "weight": 50},
                    {
                        "arm": "damped",
                        "ranker": "puresvd",
                        "weight": 50,
                        "params": {"popularity_damping": 0.2},
                    },
                ],
            }
        )
    )
    settings = load_settings(EXPERIMENT_FILE=str(path))
    experiment = settings.configured_experiment()
    assert [arm.name for arm in experiment.arms] == ["plain", "damped"]
    assert experiment.arm("damped").params == {"popularity_damping": 0.2}
    path.write_text(
        json.dumps(
            {
                "name": "x",
                "arms": [{"ranker": "puresvd", "params": {"nope": 1}}, {"ranker": "popular"}],
            }
        )
    )
    with pytest.raises(SettingsError, match="EXPERIMENT_FILE: arm puresvd: .*no parameter nope"):
        load_settings(EXPERIMENT_FILE=str(path))
    path.write_text("one:als=1,popular=1\n")  # the one-line form in a file
    assert [arm.ranker for arm in read_experiment_file(path).arms] == ["als", "popular"]
    with pytest.raises(ExperimentError, match="cannot read"):
        read_experiment_file(tmp_path / "missing.json")
    with pytest.raises(SettingsError, match="set EXPERIMENT or EXPERIMENT_FILE"):
        load_settings(EXPERIMENT="a:als=1,popular=1", EXPERIMENT_FILE=str(path))


def test_impressions_setting_reads_on_and_off_as_people_write_them() -> None:
    assert load_settings(IMPRESSIONS="OFF").recording_impressions is False
    assert load_settings(IMPRESSIONS="false").recording_impressions is False
    assert load_settings(IMPRESSIONS="on").recording_impressions is True
    assert load_settings().recording_impressions is True
    with pytest.raises(SettingsError, match="IMPRESSIONS"):
        load_settings(IMPRESSIONS="sometimes")


# -- statistics ---------------------------------------------------------------------------


def _arm(name: str, liked_share: float, users: int, rng: np.random.Generator) -> ArmCounts:
    """Users with 3 answers of 10 movies each; each user likes one movie with ``liked_share``."""
    liked = (rng.random(users) < liked_share).astype(float)
    return ArmCounts(
        experiment="ab",
        arm=name,
        ranker=name,
        impressions=np.full(users, 3.0),
        slots=np.full(users, 30.0),
        clicks=liked * 2,
        liked=liked,
        disliked=np.zeros(users),
        dismissed=np.zeros(users),
        movies_shown=100,
    )


def test_intervals_are_as_wide_as_the_binomial_says_and_cover_the_truth() -> None:
    rng = np.random.default_rng(1)
    summary = summarise(_arm("a", 0.3, 2000, rng), catalogue_size=1000)
    liked = summary.rates["liked_per_user"]
    assert liked.low < 0.3 < liked.high
    expected_half_width = 1.96 * np.sqrt(0.3 * 0.7 / 2000)
    assert abs((liked.high - liked.low) / 2 - expected_half_width) < 0.2 * expected_half_width
    per_slot = summary.rates["liked_per_slot"]
    assert per_slot.value == pytest.approx(summary.counts.liked.sum() / (30 * 2000))
    assert per_slot.low < per_slot.value < per_slot.high
    assert summary.coverage == 0.1
    # Deterministic: the same data gives the same intervals.
    assert summarise(summary.counts, 1000).rates == summary.rates


def test_two_proportion_test_matches_scipy() -> None:
    table = [[130, 1000 - 130], [100, 1000 - 100]]
    _, expected, _, _ = stats.chi2_contingency(table, correction=False)
    assert two_proportion_p_value(130, 1000, 100, 1000) == pytest.approx(expected, rel=1e-9)
    assert two_proportion_p_value(0, 10, 0, 10) == 1.0
    assert two_proportion_p_value(1, 0, 1, 10) is None


def test_a_real_difference_is_significant_and_none_is_said_plainly() -> None:
    rng = np.random.default_rng(2)
    baseline = summarise(_arm("popular", 0.30, 2000, rng), 1000)
    better = summarise(_arm("puresvd", 0.40, 2000, rng), 1000)
    same = summarise(_arm("als", 0.30, 2000, rng), 1000)
    ahead = {c.metric: c for c in compare(better, baseline)}["liked_per_user"]
    assert ahead.significant and ahead.low > 0 and ahead.p_value < 1e-6
    assert ahead.verdict.startswith("puresvd ahead of popular by +0.")
    null = {c.metric: c for c in compare(same, baseline)}["liked_per_user"]
    assert not null.significant and null.low < 0 < null.high
    assert null.verdict.startswith("not significant (95% interval ")
    assert null.p_value > 0.05
    # Too few users: an interval, wide, and no verdict but "not significant".
    tiny = summarise(_arm("tiny", 0.5, 6, rng), 1000)
    assert not {c.metric: c for c in compare(tiny, baseline)}["liked_per_user"].significant
