# The challenge image: the kit in /physionet on top of an official CUDA PyTorch runtime image.
#
#   docker build -t cardiokit .
#   docker run --network none -v DATA:/physionet/training_data -v MODEL:/physionet/model \
#       cardiokit python train_model.py training_data model
#
# BASE_IMAGE must hold the torch that requirements.txt pins (torch==2.13.0): the build refuses
# any other, so the CUDA build that ships with the base image is the one the kit runs on.
ARG BASE_IMAGE=pytorch/pytorch:2.13.0-cuda12.6-cudnn9-runtime
FROM ${BASE_IMAGE}
ARG BASE_IMAGE

# The organisers expect the code in /physionet and run commands from there.
RUN mkdir /physionet
COPY ./ /physionet
WORKDIR /physionet

# Dependencies:
# 1. Compare the base image's torch with the pin and stop with a clear message when they differ
#    (pip would otherwise fetch a second, multi-gigabyte torch with its own CUDA libraries).
# 2. Install the rest with the base image's exact torch build as a constraint, so that no
#    dependency can replace it either.
# 3. Check that torch is still the same distribution in the same place.
# 4. The organisers call `python`; some base images only have `python3`.
# PIP_BREAK_SYSTEM_PACKAGES: base images whose interpreter is the distribution's own (marked
# EXTERNALLY-MANAGED) refuse plain `pip install`; the image is single-purpose, so installing
# beside the base image's torch is what we want. Older pips ignore the variable.
RUN set -eu; \
    torch_id() { python3 -c 'import importlib.metadata as m, torch; print(m.version("torch"), torch.__file__)'; }; \
    base_torch="$(python3 -c 'import importlib.metadata as m; print(m.version("torch"))')"; \
    pinned="$(sed -n 's/^torch==\([^ ;#]*\).*/\1/p' requirements.txt)"; \
    if [ "${base_torch%%+*}" != "$pinned" ]; then \
        echo "error: BASE_IMAGE ${BASE_IMAGE} has torch ${base_torch}, requirements.txt pins torch==${pinned}; use a base image with torch ${pinned}" >&2; \
        exit 1; \
    fi; \
    before="$(torch_id)"; \
    echo "torch==${base_torch}" > /tmp/base-torch.txt; \
    PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore \
        python3 -m pip install --no-cache-dir --constraint /tmp/base-torch.txt -r requirements.txt; \
    rm /tmp/base-torch.txt; \
    if [ "$(torch_id)" != "$before" ]; then \
        echo "error: pip replaced the base image's torch (${before})" >&2; \
        exit 1; \
    fi; \
    command -v python >/dev/null || ln -s "$(command -v python3)" /usr/local/bin/python
