# Appended by repo2docker (--appendix) to the image it builds from binder/ (the
# students' environment: binder/environment.yml + binder/postBuild).  It adds what
# a hub needs and Binder does not.  Runs as the image's user (${NB_USER}) in the
# environment ${NB_PYTHON_PREFIX}.  Versions: the ones constraints.txt pins.
#
# nbgrader's student side only (the assignment list: fetch, submit, feedback) and
# nbgitpuller (course updates that keep students' work)
RUN python -m pip install --no-cache-dir nbgrader==0.9.6 nbgitpuller==1.3.0 \
 && jupyter server extension disable --sys-prefix nbgrader.server_extensions.formgrader \
 && jupyter server extension disable --sys-prefix nbgrader.server_extensions.course_list \
 && jupyter server extension disable --sys-prefix nbgrader.server_extensions.validate_assignment \
 && jupyter labextension disable --level=sys_prefix @jupyter/nbgrader:formgrader \
 && jupyter labextension disable --level=sys_prefix @jupyter/nbgrader:create-assignment \
 && jupyter labextension disable --level=sys_prefix @jupyter/nbgrader:course-list \
 && jupyter labextension disable --level=sys_prefix @jupyter/nbgrader:validate-assignment
# kernels on IPC transport (deploy/local/singleuser/: no TCP ports to race for) and
# nbgrader's exchange and course id (the exchange is a shared volume: values.yaml)
RUN mkdir -p ${NB_PYTHON_PREFIX}/etc/jupyter/jupyter_server_config.d \
 && printf '{"KernelManager": {"transport": "ipc"}}\n' \
      > ${NB_PYTHON_PREFIX}/etc/jupyter/jupyter_server_config.d/netlesson-hub.json \
 && printf '%s\n' 'import os' 'c = get_config()' \
      'c.Exchange.root = os.environ.get("NETLESSON_EXCHANGE", "/srv/nbgrader/exchange")' \
      'c.CourseDirectory.course_id = "netlesson"' \
      > ${NB_PYTHON_PREFIX}/etc/jupyter/nbgrader_config.py
