"""Model behaviour and invariants on small lattices with fixed seeds.

Statistical claims use several seeds and compare means, with margins well
outside the seed-to-seed spread measured when the tests were written.
"""

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL, cached_run
from mesa import batch_run

from sim import CARTModel, run
from sim.tcells import CARTCell

SEEDS = range(4)


def mean(values):
    return float(np.mean(list(values)))


def test_no_cart_lesion_grows_to_progression():
    for seed in SEEDS:
        r = cached_run(dose=0.0, seed=seed)
        assert r.summary["best_response"] == "PD"
        assert r.summary["cart_peak"] == 0 and r.summary["cart_lesion_peak"] == 0
        assert r.summary["final_tumor_cells"] > 1.5 * r.summary["baseline_tumor_cells"]


def test_homogeneous_antigen_high_intratumoral_dose_responds():
    responses = [cached_run(route="intratumoral", antigen_negative_fraction=0.0, dose=1e9, days=28, seed=seed).summary
                 for seed in SEEDS]
    assert all(s["best_response"] in ("CR", "PR") for s in responses), responses
    assert mean(s["best_pct_change"] for s in responses) < -50


def test_antigen_negative_share_rises_under_treatment():
    rise = []
    for seed in SEEDS:
        treated = cached_run(route="intratumoral", days=28, seed=seed).summary
        untreated = cached_run(dose=0.0, days=28, seed=seed).summary
        rise.append(treated["antigen_negative_fraction_end"] - untreated["antigen_negative_fraction_end"])
    assert min(rise) > 0, f"treatment selects antigen-negative cells in every seed: {rise}"
    assert np.mean(rise) > 0.1, f"by 10 points on average: {rise}"


@pytest.mark.parametrize("site, target, regional, arrival_ratio, response_gap", [
    ("peritoneum", "CLDN18.2", "intraperitoneal", 3, 10),
    ("brain", "GD2", "intraventricular", 3, None),    # more cells arrive; entering from one side, they need not shrink the longest diameter more
    ("liver", "GPC3", "hepatic_arterial", 2, 20),     # past the Kupffer cells, only the artery's many arrivals kill
])
def test_regional_route_beats_intravenous(site, target, regional, arrival_ratio, response_gap):
    def runs(route):
        return [cached_run(site=site, target=target, route=route, days=56, seed=s) for s in range(6)]

    def arrived(rs):  # CAR-T cell-days in the lesion over the first two weeks
        return mean(r.timeseries.set_index("day").cart_lesion.loc[:14].sum() for r in rs)

    local, iv = runs(regional), runs("intravenous")
    assert arrived(local) > arrival_ratio * arrived(iv)
    if response_gap is not None:
        assert mean(r.summary["best_pct_change"] for r in local) < mean(r.summary["best_pct_change"] for r in iv) - response_gap


def best_change(**params):
    """Mean best % change of the apparent diameter over 8 seeds (56 days)."""
    return mean(cached_run(days=56, seed=s, **params).summary["best_pct_change"] for s in range(8))


TRIAL_LIKE = {"antigen_negative_fraction": 0.25}
"""A gastric lesion as heterogeneous as the CLDN18.2 trial population (mean antigen-negative share)."""


def test_more_cells_more_response():
    """REFERENCE behaviour 2, its response half, on the 100x100 lattice of the trials (60x60 lesions saturate:
    -27% vs -30%, 8 seeds). Its toxicity half is weak (CRS proxy 1.9 -> 2.0-2.2 on 30 seeds; the proxy follows
    tumour lysis, not CAR-T numbers) and is reported in docs/calibration.md, not tested."""
    teaching = {"width": 100, "height": 100, **TRIAL_LIKE}
    low = [cached_run(days=56, seed=s, dose=1e8, **teaching).summary for s in range(8)]
    high = [cached_run(days=56, seed=s, dose=2e9, **teaching).summary for s in range(8)]
    assert mean(r["best_pct_change"] for r in high) < mean(r["best_pct_change"] for r in low) - 10


def test_haematologic_contrast_responds_far_better_than_a_gastric_lesion():
    """REFERENCE behaviour 9: dispersed marrow disease, uniform antigen, little suppression; same dose."""
    marrow = best_change(target="CD19", site="bone_marrow", antigen_negative_fraction=0.0, suppression=0.1,
                         tumor_burden_cm3=500.0)
    assert marrow < best_change(**TRIAL_LIKE) - 20


def test_high_affinity_car_kills_normal_cells_carrying_the_target():
    """The kill rule, with cells put into the lesion (intratumoral): an intravenous EGFR dose is mostly
    taken up by normal epithelium outside the lattice and few cells reach it (CARTPool)."""
    local = dict(route="intratumoral", days=28)
    egfr = [cached_run(target="EGFR", car_affinity=0.05, seed=s, **local).summary for s in SEEDS]
    gpc3 = [cached_run(target="GPC3", car_affinity=0.05, seed=s, **local).summary for s in SEEDS]
    low_affinity = [cached_run(target="EGFR", car_affinity=2.0, seed=s, **local).summary for s in SEEDS]
    assert mean(s["normal_cells_killed_fraction"] for s in egfr) > 0.05
    assert all(s["normal_cells_killed_fraction"] == 0 for s in gpc3)   # no target on normal liver
    assert mean(s["normal_cells_killed_fraction"] for s in low_affinity) < 0.5 * mean(
        s["normal_cells_killed_fraction"] for s in egfr)


def test_normal_tissue_carries_the_target_only_in_organs_that_express_it():
    """GUCY2C sits on intestinal epithelium: a liver metastasis's hepatocytes are spared; EGFR on them is not."""
    local = dict(site="crc_liver_met", route="intratumoral", car_affinity=0.05, days=28, seed=1)
    gucy2c = cached_run(target="GUCY2C", **local)
    egfr = cached_run(target="EGFR", **local)
    assert gucy2c.summary["normal_cells_killed_fraction"] == 0
    assert egfr.summary["normal_cells_killed_fraction"] > 0.05


def test_only_one_lineage_of_marrow_cells_carries_a_haematologic_target():
    """B cells are about a tenth of marrow cells and plasma cells about 1% (seeds/targets.toml
    normal_carrier_share); an organ without a share listed has every normal cell carry its target."""
    def carrier_share(**params):
        tissue = CARTModel(width=60, height=60, seed=3, **params).tissue
        return np.count_nonzero(tissue.normal & (tissue.antigen_setpoint > 0)) / np.count_nonzero(tissue.normal)

    assert 0.07 < carrier_share(target="CD19", site="bone_marrow") < 0.13
    assert carrier_share(target="BCMA", site="bone_marrow") < 0.03
    assert carrier_share(target="EGFR", site="stomach") == 1.0


def test_same_seed_same_result_different_seed_different_trajectory():
    a, b = run(**SMALL, days=21, seed=7), run(**SMALL, days=21, seed=7)
    c = run(**SMALL, days=21, seed=8)
    assert a.summary == b.summary
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries)
    assert not a.timeseries.tumor_cells.equals(c.timeseries.tumor_cells)


def test_invariants_hold_every_day():
    model = CARTModel(**SMALL, route="intratumoral", days=21, seed=3)
    t = model.tissue
    while model.running:
        model.step()
        if model.steps % 24:
            continue
        assert not np.any(t.tumor & t.normal), "a site holds a tumour and a normal cell"
        assert not np.any((t.tumor | t.normal) & t.vessel)
        assert all(len(cell.agents) <= 1 for cell in model.grid.all_cells)
        assert all(isinstance(a, CARTCell) and a.cell is not None for a in model.agents)
        assert np.all(t.antigen >= 0) and np.all(t.debris >= 0)
        for field in (model.fields.suppression, model.fields.chemokine, model.fields.inflammation):
            assert np.all(field >= 0)
        # conservation: every lesion CAR-T cell entered or was born, or has died
        assert model.tcells_entered + model.tcells_born - model.tcells_died == len(model.agents)
        # conservation in blood and the regional pool: infused + expanded - died - exited - taken_up = in the pool
        for pool in (model.blood, model.region):
            assert pool.infused + pool.expanded - pool.died - pool.exited - pool.taken_up == pytest.approx(pool.total, rel=1e-9, abs=1e-3)
            assert pool.effector >= 0 and pool.memory >= 0
    assert model.tcells_entered > 0 and model.tissue.tumor_killed > 0
    # the per-site views through which CAR-T cells read and write are still the layers themselves
    for view, layer in ((t.antigen_view, t.antigen), (model.fields.inhibition_view, model.fields.inhibition),
                        (model.fields.hindrance_view, model.fields.hindrance)):
        assert np.shares_memory(np.asarray(view), layer)


def test_dose_is_accounted_between_blood_lesion_and_elsewhere():
    model = CARTModel(**SMALL, site="peritoneum", route="intraperitoneal", days=3, seed=1)
    d = model.delivery
    assert d.local_cells + d.systemic_cells + d.lost_cells == pytest.approx(model.scenario.dose)
    while model.running:
        model.step()
    assert model.blood.infused == pytest.approx(d.systemic_cells)
    assert model.region.infused == pytest.approx(d.local_cells) and d.local_cells > 0


def test_debulking_removes_the_requested_share():
    whole = CARTModel(**SMALL, seed=2, dose=0.0)
    half = CARTModel(**SMALL, seed=2, dose=0.0, debulking_fraction=0.5)
    assert half.tumor_cells_baseline == pytest.approx(0.5 * whole.tumor_cells_baseline, rel=0.02)


def test_the_lesion_left_by_debulking_reads_the_diameter_of_its_volume():
    """lesion_diameter_mm is the lesion's before surgery (the seeded lattice and the delivery read it so):
    after half is resected the baseline scan reads the sphere of half the volume, 30 x 0.5^(1/3) = 23.8 mm."""
    half = CARTModel(**SMALL, seed=2, dose=0.0, lesion_diameter_mm=30.0, debulking_fraction=0.5)
    assert half.observation["apparent_mm"] == pytest.approx(30.0 * 0.5 ** (1 / 3))


def test_mesa_batch_run():
    rows = batch_run(CARTModel, {"width": 40, "height": 40, "days": 2, "dose": [0.0, 2.5e8]},
                     rng=[1], max_steps=48, number_processes=1, display_progress=False)
    frame = pd.DataFrame(rows)
    assert set(frame.dose) == {0.0, 2.5e8} and "tumor_cells" in frame


def test_coarser_field_updates_keep_outcomes_in_distribution():
    """Performance: fields updated every 3 h (default) vs every hour (the exact, slower path)."""
    def stats(hours):
        runs = [cached_run(route="intratumoral", days=28, seed=s, field_update_h=hours).summary for s in range(16)]
        return {k: mean(r[k] for r in runs) for k in ("final_tumor_cells", "best_pct_change", "cart_lesion_peak")}

    hourly, every3 = stats(1), stats(3)
    assert every3["final_tumor_cells"] == pytest.approx(hourly["final_tumor_cells"], rel=0.15)
    assert every3["cart_lesion_peak"] == pytest.approx(hourly["cart_lesion_peak"], rel=0.2)
    # The slow tissue rules run on the fields' cadence too. With 3-hourly fields and hourly tissue rules
    # (session 6) the fast path read about 11 points less shrinkage at day 28; since, 100x100 lattices read
    # the same within 1-2 points on two 16-seed sets (docs/calibration.md). A larger gap than before fails.
    assert abs(every3["best_pct_change"] - hourly["best_pct_change"]) < 10


def test_clear_errors_for_wrong_argument_types():
    from sim import ScenarioError

    with pytest.raises(ScenarioError, match="load_scenario"):
        run("gastric-cldn18-iv")
    with pytest.raises(ScenarioError, match="seed"):
        CARTModel(rng=1.7)
    assert CARTModel(rng=5, width=40, height=40).scenario.seed == 5


def test_mesa_batch_run_with_numpy_ranges():
    rows = batch_run(CARTModel, {"width": np.arange(40, 42), "height": 40, "days": 1}, rng=[np.int64(3)],
                     max_steps=30, number_processes=1, display_progress=False)
    assert sorted({r["width"] for r in rows}) == [40, 41]


@pytest.mark.parametrize("shape", [(7, 5), (1, 4), (3, 3)])
def test_lattice_grid_links_cells_as_mesa_does(shape):
    """LatticeGrid's one-pass linking gives every cell Mesa's connections: same keys, order, cells."""
    import random

    from mesa.discrete_space import OrthogonalMooreGrid

    from sim.lattice import LatticeGrid

    ours = LatticeGrid(shape, capacity=1, random=random.Random(0))
    mesa_grid = OrthogonalMooreGrid(shape, capacity=1, random=random.Random(0))
    for xy, cell in mesa_grid._cells.items():
        mine = ours._cells[xy].connections
        assert list(mine) == list(cell.connections)
        assert [c.coordinate for c in mine.values()] == [c.coordinate for c in cell.connections.values()]
    assert {c.coordinate for c in ours[(0, 0)].neighborhood} == {c.coordinate for c in mesa_grid[(0, 0)].neighborhood}


def test_building_the_lattice_leaves_the_garbage_collector_as_it_was():
    """The collector is paused while LatticeGrid builds its cells, then restored (on, or still off)."""
    import gc
    import random

    from sim.lattice import LatticeGrid

    assert gc.isenabled()
    LatticeGrid((6, 6), capacity=1, random=random.Random(0))
    assert gc.isenabled()
    gc.disable()
    try:
        LatticeGrid((6, 6), capacity=1, random=random.Random(0))
        assert not gc.isenabled()
    finally:
        gc.enable()
