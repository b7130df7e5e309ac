# nbgrader in the students' (and the instructor's) single-user servers on the hub.
# deploy/hub.py installs this file as <env>/etc/jupyter/nbgrader_config.py, where
# nbgrader reads it in every server and terminal of that environment.
import os

c = get_config()  # noqa: F821

# The exchange: one directory on the machine (mode 1777) through which the
# instructor releases assignments and feedback and students hand in.  The hub
# passes its path to every server (NETLESSON_EXCHANGE, jupyterhub_config.py).
c.Exchange.root = os.environ.get("NETLESSON_EXCHANGE", "/srv/nbgrader/exchange")

# The course (netlesson.instructor.COURSE_ID): students fetch and submit in it.
c.CourseDirectory.course_id = "netlesson"
