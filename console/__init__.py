"""The suite's web application (办案控制台, 举报投诉平台, 信息公示): the handler's console, statistics,
the citizens' portal and the public register, server-rendered in Chinese with an English switch.
It holds no data of its own: every page is answered by the services over gRPC."""
