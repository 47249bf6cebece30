"""What every figure script does last: lay out, write the PNG (creating its folder), free it."""
from pathlib import Path


def save_figure(fig, out: Path, dpi: int = 120) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
