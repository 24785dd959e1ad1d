"""Training: the shared resumable loop (:mod:`.loop`), what finetuning and the adversarial
rounds share for classifiers (:mod:`.classify`), pretraining (:mod:`.pretrain`) and finetuning
(:mod:`.finetune`)."""
