"""``spectrogram_pretraining`` criterion: hands fairseq the loss of a spectrogram ViT model
(M2D) and logs what a run should be watched by. The loss is computed in the plain model."""
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion


@register_criterion("spectrogram_pretraining")
class SpectrogramPretrainingCriterion(FairseqCriterion):
    """The model returns an output with ``loss`` (mean over predicted patches),
    ``sample_size`` (how many) and ``stats()`` (per-batch floats, e.g. the target and
    prediction spreads the collapse guard watches); the model's ``ema_decay`` is logged
    when it has a teacher."""

    def forward(self, model, sample, reduce=True):
        out = model(**sample["net_input"])
        patches = out.sample_size
        # fairseq divides gradients by sample_size: hand it a sum over predicted patches
        loss = out.loss * patches
        logging_output = {
            "loss": loss.item(),
            "sample_size": patches,
            "ntokens": patches,
            "nsentences": sample["id"].numel(),
            "nbatches": 1,
            **out.stats(),
        }
        if hasattr(model, "ema_decay"):
            logging_output["ema_decay"] = model.ema_decay
        return loss, patches, logging_output

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        def total(key):
            return sum(log.get(key, 0) for log in logging_outputs)

        patches, batches = total("sample_size"), total("nbatches")
        if patches == 0 or batches == 0:
            return
        metrics.log_scalar("loss", total("loss") / patches, patches, round=4)
        counted = {"loss", "sample_size", "ntokens", "nsentences", "nbatches"}
        for key in sorted({k for log in logging_outputs for k in log} - counted):
            metrics.log_scalar(key, total(key) / batches, batches, round=6 if key == "ema_decay" else 4)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
