"""``ehmam`` criterion: hands fairseq the model's loss and logs what a pretraining run
should be watched by. The loss itself is computed in ``ehmam.models.EhmamModel``."""
import math

from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion

from ehmam.losses import ranking_accuracy, spearman_correlation

# per-batch statistics, averaged over the batches of a log interval
BATCH_STATS = ("selective_share", "ranking_accuracy", "target_std", "prediction_std", "ema_decay")
# validation only: how well predicted losses order the real ones (Spearman's rho, per
# utterance over masked frames), for the student's predictor and for the teacher's, whose
# predictions choose the masks
PREDICTOR_STATS = ("predictor_spearman", "teacher_spearman")
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
        if not model.training:
            logging_output.update(self.predictor_quality(out))
        return loss, frames, logging_output

    @staticmethod
    def predictor_quality(out) -> dict:
        mask = out.mask.mask
        stats = {"predictor_spearman": spearman_correlation(out.predicted_losses, out.frame_losses, mask),
                 "teacher_spearman": spearman_correlation(out.teacher_predicted_losses, out.frame_losses, mask)}
        if any(math.isnan(v) for v in stats.values()):  # no utterance with two masked frames
            return {}
        return {**stats, "spearman_batches": 1}

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
        scored = total("spearman_batches")
        if scored:
            for key in PREDICTOR_STATS:
                metrics.log_scalar(key, total(key) / scored, scored, round=4)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
