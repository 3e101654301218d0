"""Dashboards: per-step snapshots of one env and an RGB frame drawn from them (matplotlib, Agg)."""
from __future__ import annotations

import numpy as np

from dma_gym.config.params import FUTURES_NAMES, TIER_NAMES


def snapshot(engine, e: int, m: int) -> dict[str, np.ndarray]:
    """What the dashboard plots, for env ``e`` and learner ``m`` of an Engine, now."""
    return engine.market.snapshot(engine.state, e, int(engine.learners[m]))


def status_line(engine, e: int, m: int = 0) -> str:
    """One line of env ``e`` as learner ``m`` sees it (NAV, leverage, margin, flags, tier moves,
    basis; in the Almgren-Chriss benchmark: shares, price, cash)."""
    return engine.market.status_line(engine.state, e, int(engine.learners[m]))


def dashboard(history: list[dict[str, np.ndarray]], width: int = 720, height: int = 480) -> np.ndarray:
    """(height, width, 3) uint8 frame: tier prices, annualised basis, margin ratio, positions (the
    Almgren-Chriss benchmark's snapshots: price and holdings)."""
    try:
        import matplotlib
        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError as exc:  # pragma: no cover - depends on the install
        from gymnasium.error import DependencyNotInstalled
        raise DependencyNotInstalled("render_mode='rgb_array' needs matplotlib: pip install matplotlib") from exc
    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    FigureCanvasAgg(fig)
    steps = np.array([h["step"] for h in history]) if history else np.zeros(0)
    if history and "holdings" in history[0]:
        ax1, ax2 = fig.subplots(1, 2)
        if history:
            ax1.plot(steps, [h["price"][0] for h in history])
            ax2.step(steps, [h["holdings"][0] for h in history], where="post")
        ax1.set_title("price")
        ax2.set_title("holdings")
    else:
        (ax1, ax2), (ax3, ax4) = fig.subplots(2, 2)
        if history:
            lv = np.array([h["tier_level"] for h in history])
            for t, name in enumerate(TIER_NAMES):
                ax1.plot(steps, lv[:, t], label=name)
            bs = np.array([h["basis"] for h in history]) * 100
            for k, name in enumerate(FUTURES_NAMES):
                ax2.plot(steps, bs[:, k], label=name)
            ax3.plot(steps, [h["margin_ratio"][0] for h in history], color="k")
            last = history[-1]
            ax4.bar(range(5), last["exposure"])
            ax4.bar(range(5, 8), last["futures"], color="tab:red")
            ax4.set_xticks(range(8), [t[:5] for t in TIER_NAMES] + list(FUTURES_NAMES))
            ax4.axhline(0.0, color="grey", lw=0.6)
        for ax in (ax1, ax2, ax3):
            ax.set_xlabel("step", fontsize=7)
        ax1.set_title("tier index (start = 1)")
        ax1.legend(fontsize=6, loc="lower left")
        ax2.set_title("basis, annualised %")
        ax2.legend(fontsize=6, loc="lower left")
        ax3.set_title("margin ratio")
        ax4.set_title("positions / initial equity")
        ax4.tick_params(axis="x", labelsize=6)
    fig.tight_layout()
    fig.canvas.draw()
    frame = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    return frame
