# One environment per interpreter an experiment names (config key pythons): a venv of that
# interpreter with the cell packages at the lock's pins, from the registry, and imgbench
# from this checkout (imgbench.plan.pythons). The marker is written last: an interrupted
# build leaves none, so it never counts as done. The registry was asked before any job was
# planned whether every package has a wheel for the interpreter (WorkflowPlan).
from imgbench.workflow import python_env_command


rule python_env:
    input:
        lock=PLAN.lock,
    output:
        env=directory(PLAN.python_env_dir),
        marker=PLAN.python_env_marker,
    log:
        PLAN.python_env_log,
    # First, as datasets are: a cell whose environment is not built yet must not let the
    # cells of a later round run in its place.
    priority: PLAN.dataset_priority
    conda:
        "../../envs/imgbench.yaml"
    params:
        build=python_env_command(
            SRC,
            DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method,
        ),
        interpreter=PLAN.python_env_interpreter,
        # What the registry said it will install: a changed answer builds it again.
        packages=PLAN.python_env_packages,
        src=SRC,
    shell:
        "{params.build} --interpreter {params.interpreter:q} --lock {input.lock:q}"
        " --venv {output.env:q} --marker {output.marker:q} --src {params.src:q}"
        " > {log:q} 2>&1"
