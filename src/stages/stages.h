// flowcast::stages: the public face of the stages subsystem. Depends on core, bus, store, ml.
#pragma once

#include "stages/evaluate_stage.h"
#include "stages/ingest_stage.h"
#include "stages/pipeline.h"
#include "stages/predict_stage.h"
#include "stages/produce_stage.h"
#include "stages/stage.h"
#include "stages/train_stage.h"
