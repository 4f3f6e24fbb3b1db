"""The one place that names default checkpoints on the Hugging Face Hub."""

#: COCO-trained RT-DETR: person boxes (label "person").
DEFAULT_PERSON_DETECTOR = "PekingU/rtdetr_r50vd_coco_o365"
#: ViTPose-base trained on COCO: 17 body keypoints per person box.
DEFAULT_POSE_MODEL = "usyd-community/vitpose-base-simple"
