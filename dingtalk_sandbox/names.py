"""Name pools for the generated organisation: realistic Chinese people, departments, titles, roles."""


def _pairs(text):
    return [tuple(item.split(":")) for item in text.split()]


# (surname, pinyin), roughly by frequency; the generator weights the first ones more.
SURNAMES = _pairs(
    "王:wang 李:li 张:zhang 刘:liu 陈:chen 杨:yang 黄:huang 赵:zhao 吴:wu 周:zhou "
    "徐:xu 孙:sun 马:ma 朱:zhu 胡:hu 郭:guo 何:he 高:gao 林:lin 罗:luo "
    "郑:zheng 梁:liang 谢:xie 宋:song 唐:tang 许:xu 韩:han 冯:feng 邓:deng 曹:cao "
    "彭:peng 曾:zeng 肖:xiao 田:tian 董:dong 袁:yuan 潘:pan 于:yu 蒋:jiang 蔡:cai "
    "余:yu 杜:du 叶:ye 程:cheng 苏:su 魏:wei 吕:lv 丁:ding 任:ren 沈:shen "
    "姚:yao 卢:lu 姜:jiang 崔:cui 钟:zhong 谭:tan 陆:lu 汪:wang 范:fan 金:jin "
    "欧阳:ouyang 司马:sima 诸葛:zhuge "
)
GIVEN = _pairs(
    "伟:wei 芳:fang 娜:na 敏:min 静:jing 丽:li 强:qiang 磊:lei 军:jun 洋:yang "
    "勇:yong 艳:yan 杰:jie 娟:juan 涛:tao 明:ming 超:chao 秀:xiu 霞:xia 平:ping "
    "刚:gang 桂:gui 英:ying 华:hua 文:wen 玉:yu 建:jian 国:guo 晓:xiao 海:hai "
    "婷:ting 宇:yu 浩:hao 鑫:xin 佳:jia 欣:xin 子:zi 涵:han 梓:zi 萱:xuan "
    "轩:xuan 博:bo 思:si 雨:yu 嘉:jia 俊:jun 辉:hui 志:zhi 春:chun 红:hong "
    "兰:lan 琳:lin 凯:kai 斌:bin 鹏:peng 飞:fei 慧:hui 颖:ying 晨:chen 阳:yang "
)
TOP_DEPTS = (
    "研发中心 销售中心 市场部 财务部 人力资源部 行政部 法务部 运营中心 "
    "供应链中心 客户服务部 产品中心 质量管理部 采购部 信息技术部 战略发展部"
).split()
REGIONS = (
    "华东 华南 华北 华中 西南 西北 东北 上海 北京 深圳 " "杭州 成都 武汉 南京 广州 苏州 西安 重庆 天津 厦门"
).split()
SUB_DEPTS = (
    "销售部 研发部 测试组 前端组 后端组 大客户部 渠道部 运维组 产品组 设计组 数据组 算法组 "
    "客服组 招聘组 培训组 薪酬组 会计组 税务组 品牌组 商务部 交付部 实施部 架构组 安全组 "
    "移动端组 采购组 仓储组 "
).split()
TITLES = (
    "工程师 高级工程师 资深工程师 产品经理 销售经理 客户经理 会计 出纳 HR专员 招聘专员 行政专员 设计师 "
    "测试工程师 运维工程师 数据分析师 客服专员 法务专员 采购专员 市场专员 实施顾问 架构师 项目经理 "
).split()
MANAGER_TITLES = ["经理", "主管", "总监", "高级经理"]
WORK_PLACES = ["杭州", "上海", "北京", "深圳", "广州", "成都", "南京", "武汉"]

# (group name, role names); the first groups mirror the ones a fresh DingTalk org has.
ROLE_GROUPS = [
    ("默认", ["负责人", "主管理员", "子管理员", "主管"]),
    ("职务", ["总经理", "副总经理", "部门经理", "主管", "组长", "专员"]),
    ("岗位", ["财务", "HR", "出纳", "会计", "行政", "销售", "研发", "客服", "法务", "采购"]),
    ("项目角色", ["项目经理", "技术负责人", "产品负责人", "质量负责人"]),
]
