"""What every figure script does last: lay out, write the PNG (creating its folder), free it."""
from pathlib import Path


def save_figure(fig, out: Path, dpi: int = 120, tight_layout: bool = True) -> None:
    """``tight_layout=False`` for figures that set their own spacing (a gridspec's hspace):
    then only the outer margins are trimmed."""
    import matplotlib.pyplot as plt

    if tight_layout:
        fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, bbox_inches=None if tight_layout else "tight")
    plt.close(fig)
