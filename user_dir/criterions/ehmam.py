"""``ehmam`` criterion: hands fairseq the model's loss and logs what a pretraining run
should be watched by. The loss itself is computed in ``ehmam.models.EhmamModel``."""
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion

from ehmam.losses import ranking_accuracy

# per-batch statistics, averaged over the batches of a log interval
BATCH_STATS = ("selective_share", "ranking_accuracy", "target_std", "prediction_std", "ema_decay")
# loss terms, averaged over masked frames
LOSS_TERMS = ("reconstruction", "ranking")


@register_criterion("ehmam")
class EhmamCriterion(FairseqCriterion):
    def forward(self, model, sample, reduce=True):
        out = model(**sample["net_input"])
        frames = out.sample_size
        # fairseq divides gradients by sample_size, so hand it a sum over masked frames:
        # with gradient accumulation or several GPUs each batch then counts by its frames
        loss = out.loss * frames
        logging_output = {
            "loss": loss.item(),
            "sample_size": frames,
            "ntokens": frames,
            "nsentences": sample["id"].numel(),
            "nbatches": 1,
            "selective_share": out.selective_share,
            "ranking_accuracy": ranking_accuracy(out.predicted_losses, out.frame_losses, out.mask.mask),
            "target_std": out.target_std.item(),
            "prediction_std": out.prediction_std.item(),
            "ema_decay": model.ema_decay,
        }
        for term in LOSS_TERMS:
            logging_output[term] = out.losses[term].item() * frames
        return loss, frames, logging_output

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        def total(key):
            return sum(log.get(key, 0) for log in logging_outputs)

        frames, batches = total("sample_size"), total("nbatches")
        if frames == 0 or batches == 0:
            return
        metrics.log_scalar("loss", total("loss") / frames, frames, round=4)
        for term in LOSS_TERMS:
            metrics.log_scalar(term, total(term) / frames, frames, round=4)
        for key in BATCH_STATS:
            metrics.log_scalar(key, total(key) / batches, batches, round=6 if key == "ema_decay" else 4)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
