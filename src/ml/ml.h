// flowcast::ml: the public face of the ML subsystem (features, learners, models, training,
// metrics). Depends on core only.
#pragma once

#include "ml/feature_pipeline.h"
#include "ml/learner.h"
#include "ml/model.h"
#include "ml/regression_metrics.h"
#include "ml/trainer.h"
