#!/usr/bin/env bash
# On a GPU machine without a package index: install sklxai and its plugins from the working tree
# plus the wheels carried in .whl/ (built beforehand where an index is reachable), then run one
# batch of GPU work, writing results under $OUT (default: results/gpu). One machine start costs
# minutes, so each call does the install and one or more of:
#
#   bash scripts/gpu_run.sh tests kernel pipeline     # `pytest -m gpu`, two benchmarks
#   bash scripts/gpu_run.sh amortized                 # SimSHAP/FastSHAP (about 8 min)
#   bash scripts/gpu_run.sh scale digits
#   bash scripts/gpu_run.sh refresh                   # SimSHAP refresh_every 1/2/4/8 (about 5 min)
#   bash scripts/gpu_run.sh tree                      # TreeShapley vs shap (and WOODELF), compiled trees
#   bash scripts/gpu_run.sh matrix-adult              # amortized matrix, Adult (about 8 min)
#   bash scripts/gpu_run.sh matrix-small              # breast cancer and digits (about 9 min)
#   bash scripts/gpu_run.sh estimators                # sampling estimators per budget (GBDTs)
#   bash scripts/gpu_run.sh matrix-hgb                # boosted classifier's predict_proba (4 min)
#   bash scripts/gpu_run.sh interactions              # ExactInteractions vs shapiq (needs shapiq)
#   bash scripts/gpu_run.sh conditional               # conditional games vs marginal, time per row
#   bash scripts/gpu_run.sh deep                      # CNN attributions vs captum/shap, speed section
#
# Names: tests, kernel, amortized, refresh, pipeline, scale, digits, tree, matrix-adult,
# matrix-small, matrix-hgb, estimators, interactions, conditional, deep.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${OUT:-results/gpu}"
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . plugins/*/
nvidia-smi --query-gpu=name,memory.total --format=csv > "$OUT/gpu.txt" || true
for what in "$@"; do
    echo "== $what" >&2
    case "$what" in
        tests) python3 -m pytest -q -p no:cacheprovider tests plugins -m gpu \
                   2>&1 | tee "$OUT/pytest_gpu.txt" || true ;;
        kernel) python3 -m benchmarks.kernel_speed --device cuda --out "$OUT/kernel_speed.json" \
                    | tee "$OUT/kernel_speed.md" ;;
        amortized) python3 -m benchmarks.amortized_accuracy --device cuda \
                       --out "$OUT/amortized.json" --plot "$OUT/amortized.png" \
                       | tee "$OUT/amortized.md" ;;
        refresh) for r in 1 2 4 8; do  # SimSHAP's refresh_every on this GPU, 60 s each
                     python3 -m benchmarks.amortized_accuracy --device cuda --methods simshap \
                         --budget 60 --refresh-every "$r" --out "$OUT/refresh_$r.json" \
                         | tee "$OUT/refresh_$r.md"
                 done ;;
        pipeline) python3 -m benchmarks.pipeline_speed --device cuda \
                      --out "$OUT/pipeline_speed.json" | tee "$OUT/pipeline_speed.md" ;;
        scale) python3 -m benchmarks.scale_memory --device cuda --out "$OUT/scale_memory.json" \
                   | tee "$OUT/scale_memory.md" ;;
        digits) python3 -m benchmarks.attribution_digits --device cuda \
                    --out "$OUT/attribution_digits.json" | tee "$OUT/attribution_digits.md" ;;
        # TreeShapley against WOODELF on XGBoost sizes (--woodelf-sizes) needs xgboost and
        # woodelf-explainer (with treelite), and WOODELF on the GPU CuPy: a GPU machine without
        # a package index has none of them unless their wheels are carried in .whl/ (see the
        # header), so the comparison runs only where they import (WOODELF on the CPU where
        # CuPy is absent)
        tree) python3 -m benchmarks.tree_speed --device cuda --out "$OUT/tree_speed.json" \
                  | tee "$OUT/tree_speed.md"
              if python3 -c "import xgboost, woodelf" 2>/dev/null; then
                  gpu_flag=""
                  if python3 -c "import cupy" 2>/dev/null; then gpu_flag="--woodelf-gpu"; fi
                  python3 -m benchmarks.tree_speed --woodelf-sizes --device cuda $gpu_flag \
                      --size-threads 16 --out "$OUT/tree_woodelf.json" | tee "$OUT/tree_woodelf.md"
              else
                  echo "tree: xgboost/woodelf not installed here, WOODELF comparison skipped" >&2
              fi ;;
        # the amortized matrix takes about 20 minutes on the CPU: on the GPU machine (10 minutes
        # a command) run it in two calls, e.g. matrix-adult, then matrix-small
        matrix-adult) python3 -m benchmarks.amortized_matrix --device cuda \
                          --settings adult-mlp,adult-gbdt --out "$OUT/amortized_matrix_adult.json" \
                          | tee "$OUT/amortized_matrix_adult.md" ;;
        matrix-small) python3 -m benchmarks.amortized_matrix --device cuda \
                          --settings breast-cancer-mlp,breast-cancer-gbdt,digits-gbdt \
                          --out "$OUT/amortized_matrix_small.json" \
                          | tee "$OUT/amortized_matrix_small.md" ;;
        matrix-hgb) python3 -m benchmarks.amortized_matrix --device cuda \
                        --settings adult-hgb-proba --out "$OUT/amortized_matrix_hgb.json" \
                        | tee "$OUT/amortized_matrix_hgb.md" ;;
        # sklxai's sampling estimators on the GPU (shapiq's on the CPU), the two tree settings
        estimators) python3 -m benchmarks.estimators --device cuda --rows 6 \
                        --settings breast-cancer-gbdt digits-gbdt \
                        --out "$OUT/estimators.json" | tee "$OUT/estimators.md" ;;
        # ExactInteractions on the GPU against shapiq's ExactComputer (on the same game)
        interactions) python3 -m benchmarks.interactions --device cuda \
                          --out "$OUT/interactions.json" | tee "$OUT/interactions.md" ;;
        # the Gaussian, copula and empirical games against the marginal game, equal model calls
        conditional) python3 -m benchmarks.conditional_games --device cuda --rows 200 \
                         --out "$OUT/conditional_games.json" | tee "$OUT/conditional_games.md" ;;
        # CNN attributions against captum and shap, both on the GPU: the speed section only
        # (memory measures the CPU's), resnet18 on four times the CPU run's rows; the digits
        # CNN trains on the CPU with every torch thread (on the CPU the speed section takes
        # about 3 minutes on one thread at --resnet-scale 1; meant to fit in 5 here)
        deep) python3 -m benchmarks.deep_attributions --device cuda --sections speed \
                  --threads 0 --repeats 3 --resnet-scale 4 --out "$OUT/deep_attributions.json" \
                  | tee "$OUT/deep_attributions.md" ;;
        *) echo "unknown: $what (tests, kernel, amortized, refresh, pipeline, scale, digits, tree, matrix-adult, matrix-small, matrix-hgb, estimators, interactions, conditional, deep)" >&2; exit 2 ;;
    esac
done
